// Course editor (templates/catalog/): progressive enhancement only; without it the order numbers and
// the Remove boxes do the same on save. No inline script under the CSP.
//  - [data-lessons]: ↑/↓ buttons on each lesson move it and renumber the order fields.
//  - form[data-confirm]: asks before deleting or archiving.
(function () {
  "use strict";

  function label(name) {
    return document.documentElement.lang === "en" ? name.en : name.zh;
  }

  function renumber(list) {
    list.querySelectorAll("[data-lesson]").forEach(function (row, index) {
      var field = row.querySelector("[data-position]");
      if (field) { field.value = String(index + 1); }
    });
  }

  function moveButton(text, title, step) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "move";
    button.textContent = text;
    button.setAttribute("aria-label", title);
    button.title = title;
    button.dataset.step = String(step);
    return button;
  }

  document.querySelectorAll("[data-lessons]").forEach(function (list) {
    list.querySelectorAll("[data-lesson]").forEach(function (row) {
      var controls = row.querySelector(".controls");
      if (!controls) { return; }
      controls.insertBefore(moveButton("↓", label({ zh: "下移", en: "Move down" }), 1), controls.firstChild);
      controls.insertBefore(moveButton("↑", label({ zh: "上移", en: "Move up" }), -1), controls.firstChild);
      var remove = row.querySelector("[data-remove]");
      if (remove) {
        remove.addEventListener("change", function () { row.classList.toggle("is-removed", remove.checked); });
      }
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button.move");
      if (!button) { return; }
      var row = button.closest("[data-lesson]");
      if (button.dataset.step === "-1" && row.previousElementSibling) {
        list.insertBefore(row, row.previousElementSibling);
      } else if (button.dataset.step === "1" && row.nextElementSibling) {
        list.insertBefore(row.nextElementSibling, row);
      }
      renumber(list);
      button.focus();
    });
    // Typed order numbers win on save; re-sorting while typing would move the field under the finger.
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
