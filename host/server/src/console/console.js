// Progressive enhancement for the console. Every page reads and works without it; with it:
// - forms (and buttons) that carry data-confirm ask first, as AWS's console does;
// - the page's main part is fetched again whenever the server says the state changed
//   (body[data-live] is an event stream of 'change' events), keeping open <details>;
// - logs of running actions (pre[data-stream]) follow their action line by line.
// Everything is inserted as text or as HTML the server rendered and escaped.
'use strict';

const sources = [];

document.addEventListener('submit', (event) => {
  const text = (event.submitter && event.submitter.dataset.confirm) || event.target.dataset.confirm;
  if (text && !window.confirm(text)) event.preventDefault();
});

function follow() {
  if (!window.EventSource) return;
  for (const log of document.querySelectorAll('pre[data-stream]:not([data-following])')) {
    log.dataset.following = '1';
    const source = new EventSource(log.dataset.stream);
    sources.push(source);
    source.addEventListener('line', (event) => {
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(event.data + '\n');
      if (atEnd) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener('end', () => source.close());
  }
}

// After a form, the address bar shows the page itself, so a reload neither posts the form
// again nor repeats what it said.
const page = document.body.dataset.page;
if (page) {
  const params = new URLSearchParams(location.search);
  params.delete('done');
  const search = location.pathname === page ? params.toString() : '';
  const address = page + (search ? '?' + search : '');
  if (address !== location.pathname + location.search) history.replaceState(null, '', address);
}

const live = document.body.dataset.live;
if (live && window.EventSource) {
  let pending = false;
  let again = false;
  const refresh = async () => {
    if (pending) { again = true; return; }
    pending = true;
    try {
      // Someone typing in a form keeps what they typed; the next change refreshes.
      const active = document.activeElement;
      if (active && active.closest('form') && active.matches('input, textarea, select')) return;
      const response = await fetch(location.href, {
        headers: { 'Accept': 'text/html', 'X-Sandpipe-Fragment': 'main' },
        credentials: 'same-origin',
      });
      if (!response.ok) return;
      const html = await response.text();
      const open = new Set([...document.querySelectorAll('details[id][open]')].map((d) => d.id));
      for (const source of sources.splice(0)) source.close();
      const main = document.getElementById('main');
      // What the last action said stays until the next page.
      const flash = main.querySelector(':scope > .flash');
      main.innerHTML = html;
      if (flash && !main.querySelector(':scope > .flash')) main.prepend(flash);
      for (const id of open) {
        const details = document.getElementById(id);
        if (details) details.open = true;
      }
      follow();
    } finally {
      pending = false;
      if (again) { again = false; refresh(); }
    }
  };
  new EventSource(live).addEventListener('change', refresh);
}

follow();
