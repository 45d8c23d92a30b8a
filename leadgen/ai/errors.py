"""Errors of the AI layer. Callers catch AIError; its message is safe to log and to show an admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai


class AIError(Exception):
    def __init__(self, message: str, *, provider: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.code = code
        # Tokens already spent when the reply came back unusable: still charged to the budget.
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0


class AIProviderError(AIError):
    """The provider refused or failed the request (after the client's retries of 429 and 5xx)."""

    @classmethod
    def from_openai(cls, exc: openai.APIStatusError, *, what: str) -> AIProviderError:
        body = exc.body if isinstance(exc.body, dict) else {}
        # The openai client unwraps {"error": {...}} into .body; some compatible servers don't nest it.
        detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        message = detail.get("message") or exc.message
        code = detail.get("code") or detail.get("type")
        return cls(
            f"{what} request failed with HTTP {exc.status_code}: {message}",
            provider="openai",
            status=exc.status_code,
            code=str(code) if code else None,
        )


class AIResponseError(AIError):
    """The provider answered, but not with what we asked for (bad JSON, schema mismatch, refusal, wrong size)."""
