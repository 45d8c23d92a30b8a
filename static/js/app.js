// Close open dropdowns with Escape for keyboard users.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll("details.dropdown[open]").forEach((d) => d.removeAttribute("open"));
  }
});
