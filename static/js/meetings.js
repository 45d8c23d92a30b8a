// Booking pages: show times in the visitor's own timezone. With no zone chosen yet, the browser's is used once;
// changing the picker reloads the page in the chosen zone.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("tz");
    if (!select) return;
    select.addEventListener("change", function () { select.form.submit(); });
    if (select.dataset.auto !== "1") return;
    var browserZone = "";
    try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (!browserZone || browserZone === select.dataset.current) return;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === browserZone; });
    if (!known) return;
    var url = new URL(window.location.href);
    url.searchParams.set("tz", browserZone);
    window.location.replace(url.toString());
  });
})();
