// History tab. The page layout is bms/history.py's; until the page knows it,
// each page is shown as hex so nothing is hidden.
const $ = (id) => document.getElementById(id);

export function renderHistory(pages) {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
  $('hist-counters').replaceChildren();
  $('hist-log').replaceChildren(...pages.map((p, i) => {
    const li = document.createElement('li');
    li.textContent = `page ${i}: ${hex(p)}`;
    return li;
  }));
}
