// Click-to-load YouTube players: the privacy-enhanced iframe waits in a <template> until the
// registrant presses the play button, so opening the page sends nothing to YouTube.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-video-template]");
    if (!button) { return; }
    var template = document.getElementById(button.getAttribute("data-video-template"));
    if (!template) { return; }
    var frame = template.content.firstElementChild.cloneNode(true);
    button.parentNode.replaceChild(frame, button);
    frame.focus();
  });
})();
