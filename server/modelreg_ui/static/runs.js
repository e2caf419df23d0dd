// The experiment table's form: fields left empty are not sent, so the shared URL
// holds only what was chosen (the page reads a missing field as its default).
(function () {
  "use strict";
  const form = document.getElementById("runs-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    for (const el of form.elements) {
      if (el.name && (el.tagName === "INPUT" || el.tagName === "SELECT") &&
          el.type !== "checkbox" && el.value === "") {
        el.disabled = true;
      }
    }
    // Re-enabled after the navigation starts, for a page restored from the back cache.
    setTimeout(function () {
      for (const el of form.elements) el.disabled = false;
    }, 0);
  });
})();
