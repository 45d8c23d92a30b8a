// Prospect list: "select all on this page" and a live count of the selected rows.
(() => {
  const boxes = () => document.querySelectorAll('#prospect-table input[name="ids"]');

  const updateCount = () => {
    const target = document.getElementById("selected-count");
    if (!target) return;
    const n = Array.from(boxes()).filter((box) => box.checked).length;
    target.textContent = n ? `(${n} selected)` : "";
  };

  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches && el.matches("[data-select-all]")) {
      boxes().forEach((box) => { box.checked = el.checked; });
    }
    if (el.matches && (el.matches("[data-select-all]") || el.matches('input[name="ids"]'))) {
      updateCount();
    }
  });

  document.addEventListener("htmx:afterSwap", updateCount);
})();
