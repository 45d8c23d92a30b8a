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

// The stage filter's summary says how many stages are ticked (the filter form itself is not re-rendered).
(() => {
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!box.matches || !box.matches('#filter-stage input[name="stage"]')) return;
    const n = document.querySelectorAll('#filter-stage input[name="stage"]:checked').length;
    document.querySelector("#filter-stage summary").textContent = n ? `Stage (${n})` : "Any stage";
  });
})();
