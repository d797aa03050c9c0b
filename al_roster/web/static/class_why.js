/* al_roster: "Someone missing or wrong?" on a class's page: focus the answer, copy the message. */
(function () {
  "use strict";

  function copyText(area) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(area.value);
    }
    area.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
  }

  function setUp() {
    var answer = document.querySelector("[data-alr-why-answer]");
    if (!answer) return;
    var title = document.getElementById("alr-why-answer-title");
    // Read out first after asking; again once loaded, as going to the #fragment moves focus.
    function focusTitle() {
      if (title && (document.activeElement === document.body || !document.activeElement)) title.focus();
    }
    if (title) title.focus();
    window.addEventListener("load", function () { window.setTimeout(focusTitle, 0); });
    var button = answer.querySelector("[data-alr-why-copy]");
    var area = answer.querySelector("[data-alr-why-message]");
    var status = answer.querySelector("[data-alr-why-copied]");
    if (!button || !area) return;
    button.addEventListener("click", function () {
      copyText(area).then(function () {
        status.textContent = "Copied. Paste it into your message.";
      }, function () {
        area.focus();
        area.select();
        status.textContent = "Could not copy: the message is selected, press Ctrl+C (or Cmd+C).";
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
