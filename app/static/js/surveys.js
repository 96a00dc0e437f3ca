// Survey builder: show the options box only for choice questions and the saved-search select only for that
// audience. Without script both stay visible and the server checks them anyway.
(function () {
  "use strict";

  function toggle(container, show) {
    if (container) { container.hidden = !show; }
  }

  function wireKind() {
    var kind = document.querySelector("[data-survey-kind] select");
    var options = document.querySelector("[data-survey-options]");
    if (!kind || !options) { return; }
    var update = function () { toggle(options, kind.value === "single" || kind.value === "multiple"); };
    kind.addEventListener("change", update);
    update();
  }

  function wireAudience() {
    var radios = document.querySelectorAll("[data-survey-audience] input[type=radio]");
    var saved = document.querySelector("[data-survey-saved-search]");
    if (!radios.length || !saved) { return; }
    var update = function () {
      var chosen = document.querySelector("[data-survey-audience] input[type=radio]:checked");
      toggle(saved, chosen !== null && chosen.value === "saved_search");
    };
    Array.prototype.forEach.call(radios, function (radio) { radio.addEventListener("change", update); });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireKind();
    wireAudience();
  });
}());
