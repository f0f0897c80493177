// The projector page: shows each step event of /events, advances the
// narration with POST /next (button or space). No framework, no build.
'use strict';
(function () {
  const L = {
    pt: { why: 'por quê', shell: 'comando', evidence: 'evidência', docs: 'página', next: 'Próximo ▶',
      waiting: 'Aguardando: Próximo, espaço ou Enter no terminal.', running: 'Executando…',
      ran: 'Feito.', done: 'Fim da narração: o servidor foi encerrado.', dry: 'Só descrito (--dry-run).',
      hc: 'Alto contraste (h)', all: 'Todos os painéis (a)', step: 'passo' },
    en: { why: 'why', shell: 'shell', evidence: 'evidence', docs: 'docs', next: 'Next ▶',
      waiting: 'Waiting: Next, space or Enter in the terminal.', running: 'Running…',
      ran: 'Done.', done: 'The narration is over: the server closed.', dry: 'Described only (--dry-run).',
      hc: 'High contrast (h)', all: 'All panels (a)', step: 'step' },
  };
  const $ = (id) => document.getElementById(id);
  let cur = null;
  let all = localStorage.getItem('minirun-all') === '1';
  if (localStorage.getItem('minirun-hc') === '1') document.body.classList.add('hc');

  function lab(k) {
    const l = (cur && cur.lang) || 'pt';
    if (l === 'pt+en') return L.pt[k] + ' / ' + L.en[k];
    return (L[l] || L.pt)[k];
  }

  function drawDiagram() {
    if (!cur) return;
    const svg = all ? cur.svgAll : cur.svg;
    // The SVG comes from minirun itself, every string escaped as XML.
    if (svg) $('diagram').innerHTML = svg;
  }

  // Milliseconds from each step's end to its event here: the headless
  // test reads them (issue #17 asks for a median of at most 200 ms).
  window.minirunLatency = [];

  function show(v) {
    cur = v;
    if (v.phase === 'end' && v.ended) window.minirunLatency.push(Date.now() - v.ended / 1e6);
    document.documentElement.lang = v.lang === 'en' ? 'en' : 'pt-BR';
    for (const k of ['why', 'shell', 'evidence', 'docs']) $('l-' + k).textContent = lab(k);
    $('next').textContent = lab('next');
    $('hc').title = lab('hc');
    $('all').title = lab('all');
    if (v.phase === 'done') {
      $('status').textContent = lab('done');
      $('next').disabled = true;
      es.close();
      return;
    }
    $('where').textContent = v.chapter + ' · ' + lab('step') + ' ' + v.seq + ' · ' + v.id;
    $('slides').textContent = (v.slides || []).join('; ');
    $('title').textContent = v.title;
    $('why').textContent = v.why;
    $('shell').textContent = v.shell ? '$ ' + v.shell : '';
    $('evidence').textContent = v.phase === 'end' ? (v.evidence || '') : '';
    $('l-evidence').hidden = !(v.phase === 'end' && v.evidence);
    $('error').hidden = !v.error;
    $('error').textContent = v.error ? '✗ ' + v.error : '';
    $('anchor').textContent = v.anchor || '';
    $('status').textContent = v.waiting ? lab('waiting') : v.dryRun ? lab('dry') : v.phase === 'end' ? lab('ran') : lab('running');
    $('next').disabled = !v.waiting;
    drawDiagram();
  }

  function next() {
    if (!cur || !cur.waiting) return;
    $('next').disabled = true;
    fetch('/next?seq=' + cur.seq, { method: 'POST', headers: { 'X-Minirun': 'next' } });
  }

  function toggleHC() {
    document.body.classList.toggle('hc');
    localStorage.setItem('minirun-hc', document.body.classList.contains('hc') ? '1' : '0');
  }

  function toggleAll() {
    all = !all;
    localStorage.setItem('minirun-all', all ? '1' : '0');
    drawDiagram();
  }

  $('next').addEventListener('click', next);
  $('hc').addEventListener('click', toggleHC);
  $('all').addEventListener('click', toggleAll);
  document.addEventListener('keydown', (e) => {
    if (e.target && e.target.tagName === 'BUTTON' && (e.key === ' ' || e.key === 'Enter')) e.preventDefault();
    if (e.key === ' ' || e.key === 'ArrowRight' || e.key === 'PageDown') { e.preventDefault(); next(); }
    else if (e.key === 'h') toggleHC();
    else if (e.key === 'a') toggleAll();
  });

  const es = new EventSource('/events');
  es.addEventListener('step', (e) => show(JSON.parse(e.data)));
})();
