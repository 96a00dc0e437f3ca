/* Match list: "select all on this page" and a count of the selected rows. */
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  var count = document.getElementById("selected-count");
  var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
  if (!picks.length) { return; }
  function update() {
    var n = picks.filter(function (box) { return box.checked; }).length;
    if (count) { count.textContent = n ? n + " 人を選択中" : ""; }
    if (all) { all.checked = n === picks.length; all.indeterminate = n > 0 && n < picks.length; }
  }
  picks.forEach(function (box) { box.addEventListener("change", update); });
  if (all) {
    all.addEventListener("change", function () {
      picks.forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  update();
})();
