// Run in a built book page once it has loaded (and its scripts, itables included, have run): the elements
// that reach past the article's content column and are not inside a block that scrolls sideways within it
// (those are cut off), the error outputs, interactive tables that never loaded, machine paths and tool
// chatter in what a reader sees, raw identifiers as column headers, run folder names (a seed or snapshot run's
// ``<recipe>_seed<N>``) outside code, and whether the page has its article.
// tests/test_notebooks_browser.py reads the result from the body's data-book-check attribute.
// The study's dataset variants (fer2013_a, ferplus_s, ...) are names the book defines, not raw identifiers.
const DATASET_NAME = /^(fer2013|ferplus)(_[a-z]+)?$/;

function scrollsWithin(el, article, right) {
  for (let block = el; block && block !== article; block = block.parentElement) {
    const overflow = getComputedStyle(block).overflowX;
    if (['auto', 'scroll', 'hidden'].includes(overflow) && block.getBoundingClientRect().right <= right) {
      return true;
    }
  }
  return false;
}

window.addEventListener('load', () => setTimeout(() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const right = article ? article.getBoundingClientRect().right + 1 : 0;
  const wide = [];
  if (article) {
    article.querySelectorAll('table, img, svg, .fer-table, .dt-container, .cell_output').forEach(el => {
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > right && !scrollsWithin(el, article, right)) {
        wide.push(`${el.tagName}.${el.className} ends at ${Math.round(box.right)} px, ` +
                  `column at ${Math.round(right)} px`);
      }
    });
  }
  const errors = [...document.querySelectorAll('.output.traceback, .output.error')]
    .map(el => el.textContent.slice(0, 300));
  const text = article ? article.innerText : '';
  const found = pattern => [...new Set(text.match(pattern) || [])];
  const unloaded = found(/Loading ITables[^\n]{0,40}/g);
  const machinePaths = found(/(?:\/tmp|\/work|\/root|\/home)\/[^\s'")\]]+/g);
  const chatter = found(/[^\n]{0,60}has been created/g);
  const identifiers = article ? [...new Set([...article.querySelectorAll('th')].map(th => th.innerText.trim())
    .filter(name => /^[a-z0-9]+(_[a-z0-9]+)+$/.test(name) && !DATASET_NAME.test(name)))] : [];
  // Code (inputs, commands in the text) may name a run's folder; prose and tables show its title.
  const prose = article ? article.cloneNode(true) : null;
  if (prose) prose.querySelectorAll('pre, code, .cell_input, script, style').forEach(el => el.remove());
  const words = [];  // each text node on its own, so adjacent table cells do not run together
  if (prose) {
    const walker = document.createTreeWalker(prose, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) words.push(walker.currentNode.nodeValue);
  }
  const runNames = [...new Set(words.join(' ').match(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*_(?:seed\d+|snap\d{3})\b/g) || [])];
  document.body.setAttribute('data-book-check', JSON.stringify(
    {article: !!article, wide, errors, unloaded, machinePaths, chatter, identifiers, runNames}));
}, 1000));
