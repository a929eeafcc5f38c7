// Client-side search over window.MLNB_SEARCH_INDEX (written by the build as search-index.js).
// Every word of the query must appear in an entry's names or text; name hits rank first.
(function () {
  "use strict";
  const index = window.MLNB_SEARCH_INDEX || [];
  const root = document.body.dataset.root || "";
  const input = document.getElementById("search");
  const list = document.getElementById("search-results");
  if (!input || !list) return;

  function words(text) {
    return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  }

  // score = 10 per word found in a name, 1 per word found only in the text; 0 = no match.
  function score(record, query) {
    let total = 0;
    for (const word of query) {
      if (record.names.some((name) => name.includes(word))) total += 10;
      else if (record.text.includes(word)) total += 1;
      else return 0;
    }
    return total;
  }

  function search(text) {
    const query = words(text);
    if (query.length === 0) return [];
    return index
      .map((record) => ({ record, score: score(record, query) }))
      .filter((hit) => hit.score > 0)
      .sort((a, b) => b.score - a.score || a.record.title.localeCompare(b.record.title))
      .slice(0, 10)
      .map((hit) => hit.record);
  }

  function show(records, text) {
    list.replaceChildren();
    for (const record of records) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = root + record.url;
      link.textContent = record.title;
      const summary = document.createElement("span");
      summary.className = "summary";
      summary.textContent = record.summary;
      item.append(link, summary);
      list.append(item);
    }
    if (records.length === 0 && text.trim()) {
      const item = document.createElement("li");
      item.className = "empty";
      item.textContent = "No entry matches.";
      list.append(item);
    }
    list.hidden = list.children.length === 0;
  }

  input.addEventListener("input", () => show(search(input.value), input.value));
  input.addEventListener("keydown", (event) => {
    const first = list.querySelector("a");
    if (event.key === "Enter" && first) window.location.href = first.href;
    if (event.key === "Escape") show([], "");
  });
})();
