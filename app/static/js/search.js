// Registrant search: "select this page" checkbox and a count of selected rows. The page works without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("selection");
    if (!form) { return; }
    var all = form.querySelector(".select-all");
    var rows = Array.prototype.slice.call(form.querySelectorAll(".row-select"));
    var count = form.querySelector(".selected-count");
    function update() {
      var n = rows.filter(function (box) { return box.checked; }).length;
      if (all) {
        all.checked = n > 0 && n === rows.length;
        all.indeterminate = n > 0 && n < rows.length;
      }
      if (count) { count.textContent = n ? count.getAttribute("data-template").replace("{n}", String(n)) : ""; }
    }
    if (all && rows.length) {
      all.hidden = false;
      all.addEventListener("change", function () {
        rows.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    rows.forEach(function (box) { box.addEventListener("change", update); });
    update();
  });
})();
