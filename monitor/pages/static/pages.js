// Keyboard shortcuts for the pages. Loaded from the site itself (the CSP forbids inline
// script); every action is also a plain form, so the pages work without this file.
(function () {
  "use strict";

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll(".item"));
  }

  function selected() {
    return document.querySelector(".item.selected");
  }

  function select(item) {
    var current = selected();
    if (current) current.classList.remove("selected");
    if (!item) return;
    item.classList.add("selected");
    item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var index = all.indexOf(selected());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : index + step;
    select(all[Math.max(0, Math.min(all.length - 1, next))]);
  }

  function press(key) {
    var item = selected();
    var button = item && item.querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    // Keep the selection on the next item when this one leaves the list.
    var all = items();
    var after = all[all.indexOf(item) + 1] || all[all.indexOf(item) - 1];
    var id = item.id;
    // Listen before the click. `htmx:afterSwap` would go to a row that has just left the page
    // (a detached element's events reach nobody), so wait for `htmx:beforeSwap`, which the row
    // still receives, and reselect once the swap is done.
    document.addEventListener("htmx:beforeSwap", function reselect() {
      document.removeEventListener("htmx:beforeSwap", reselect);
      window.setTimeout(function () {
        select(document.getElementById(id) || after || null);
      }, 30);
    });
    button.click(); // htmx takes the click (hx-post); without it, the button submits its form
  }

  function toggleHelp() {
    var help = document.getElementById("help");
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }

  function isTyping(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": {
        var item = selected();
        var link = item && item.querySelector("a.title");
        if (link) window.open(link.href, "_blank", "noopener,noreferrer");
        break;
      }
      case "r": case "x": case "s": press(event.key); break;
      case "t": {
        // The selected item's developing story (its story page's thread panel), else its story.
        var row = selected();
        var story = row && (row.querySelector("a.badge.developing") || row.querySelector("a.story"));
        if (story) window.location.href = story.href;
        break;
      }
      case "n": case "p": {
        // Later / earlier event of the developing story on a story page.
        var step = document.querySelector('.thread-nav a[data-key="' + event.key + '"]');
        if (step) window.location.href = step.href;
        break;
      }
      case "/": {
        var search = document.getElementById("search");
        if (search) { event.preventDefault(); search.focus(); search.select(); }
        break;
      }
      case "?": toggleHelp(); break;
      default: return;
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "help-button") toggleHelp();
    var item = event.target && event.target.closest && event.target.closest(".item");
    if (item && !isTyping(event.target)) select(item);
  });
})();
