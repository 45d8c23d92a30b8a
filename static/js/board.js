// Pipeline board: drag a card onto another column to change its stage. The server re-renders the columns
// (counts included); the keyboard alternative is each card's "Move to" menu, which posts the same request.
(() => {
  let dragged = null;

  const csrfHeaders = () => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    } catch {
      return {};
    }
  };

  const moveCard = (card, stage) => {
    if (!card || !stage || card.dataset.stage === stage) return;
    card.classList.add("moving");
    htmx.ajax("POST", card.dataset.stageUrl, {
      source: card,
      target: "#board-columns",
      swap: "outerHTML",
      values: { stage, view: "board" },
      headers: csrfHeaders(),
    });
  };

  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });

  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll(".board-column.drop-target").forEach((c) => c.classList.remove("drop-target"));
  });

  document.addEventListener("dragover", (event) => {
    const column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".board-column.drop-target").forEach((c) => c !== column && c.classList.remove("drop-target"));
    column.classList.add("drop-target");
  });

  document.addEventListener("drop", (event) => {
    const column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    moveCard(dragged, column.dataset.stage);
    dragged = null;
  });

  // After a keyboard move the focused menu was replaced: put focus back on the moved card's menu.
  document.addEventListener("htmx:afterSettle", (event) => {
    if (!event.target || event.target.id !== "board-columns") return;
    const moved = document.querySelector(".board-card[data-moved] select");
    if (moved) moved.focus();
  });
})();
