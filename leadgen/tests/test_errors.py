from __future__ import annotations

from django.core.exceptions import ValidationError

from leadgen.errors import error_fields, error_items, error_text


def test_a_plain_validation_error_is_one_line_and_a_field_less_item() -> None:
    exc = ValidationError(["First problem.", "Second problem."])
    assert error_text(exc) == "First problem. Second problem."
    assert error_fields(exc) == {"__all__": ["First problem.", "Second problem."]}
    assert error_items(exc) == [{"field": "", "message": "First problem. Second problem."}]


def test_a_field_validation_error_keeps_its_fields() -> None:
    exc = ValidationError({"email": ["Bad email.", "Taken."], "stage": "Unknown stage."})
    assert error_text(exc) == "Bad email. Taken. Unknown stage."
    assert error_fields(exc) == {"email": ["Bad email.", "Taken."], "stage": ["Unknown stage."]}
    assert error_items(exc) == [
        {"field": "email", "message": "Bad email."},
        {"field": "email", "message": "Taken."},
        {"field": "stage", "message": "Unknown stage."},
    ]
