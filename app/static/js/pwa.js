// The registrant portal as an installable app: registers the service worker named in this script's
// data-sw attribute and, on the install page, offers the browser's own install prompt when the browser
// supports one (beforeinstallprompt). Progressive enhancement: the pages work without this file.
(function () {
  "use strict";
  var script = document.currentScript;
  var workerUrl = script && script.getAttribute("data-sw");
  if (workerUrl && "serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register(workerUrl, { scope: "/" }).catch(function (error) {
        if (window.console) { console.warn("service worker not registered:", error && error.message); }
      });
    });
  }

  var deferredPrompt = null;

  function installParts() {
    return {
      sections: document.querySelectorAll("[data-install-section]"),
      buttons: document.querySelectorAll("[data-install-app]"),
      status: document.querySelector("[data-install-status]")
    };
  }

  function showInstall(visible) {
    Array.prototype.forEach.call(installParts().sections, function (section) { section.hidden = !visible; });
  }

  // the messages come from the page (data-* attributes of the status line), translated there
  function say(key) {
    var status = installParts().status;
    if (status) { status.textContent = status.getAttribute("data-" + key) || ""; }
  }

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();  // keep the prompt for our button instead of the browser's mini bar
    deferredPrompt = event;
    showInstall(true);
  });

  window.addEventListener("appinstalled", function () {
    deferredPrompt = null;
    say("installed");
    Array.prototype.forEach.call(installParts().buttons, function (button) { button.disabled = true; });
  });

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(installParts().buttons, function (button) {
      button.addEventListener("click", function () {
        if (!deferredPrompt) { return; }
        var prompt = deferredPrompt;
        deferredPrompt = null;
        prompt.prompt();
        prompt.userChoice.then(function (choice) {
          if (choice.outcome === "accepted") {
            say("installing");
          } else {
            say("dismissed");
            Array.prototype.forEach.call(installParts().buttons, function (button) { button.hidden = true; });
          }
        });
      });
    });
  });
})();
