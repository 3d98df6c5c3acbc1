"""Accessibility basics that scripts/browser-test checks on every page it visits: every form
control has a label, text has a contrast of at least 4.5:1 against what is behind it, the
page has a language and a title, and the keyboard reaches the controls with a visible focus.
Each check answers a list of problems (empty when the page passes)."""

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

MINIMUM_CONTRAST = 4.5

# Inputs that carry their own visible name (a button's value) or none at all (hidden).
_LABELS = r"""
const problems = [];
const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.tagName === 'INPUT' && skip.has((el.getAttribute('type') || 'text').toLowerCase())) continue;
  const aria = (el.getAttribute('aria-label') || '').trim();
  const labelledBy = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
    .map(id => document.getElementById(id)).filter(n => n && n.textContent.trim());
  const byFor = el.id ? [...document.querySelectorAll('label')].filter(l => l.htmlFor === el.id && l.textContent.trim()) : [];
  const wrapping = el.closest('label');
  if (aria || labelledBy.length || byFor.length || (wrapping && wrapping.textContent.trim())) continue;
  problems.push(`<${el.tagName.toLowerCase()} name="${el.name || ''}" id="${el.id || ''}"> has no label`);
}
if (!(document.documentElement.getAttribute('lang') || '').trim()) problems.push('<html> has no lang attribute');
if (!document.title.trim()) problems.push('the page has no <title>');
return problems;
"""

# Text against its background: colours are normalised through a canvas (so rgb(), hex,
# oklch() and color() all work), backgrounds are composed from the root down, and text over a
# background image or gradient is counted as not checkable rather than guessed.
_CONTRAST = r"""
const minimum = arguments[0];
const canvas = document.createElement('canvas'); canvas.width = canvas.height = 1;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
function rgba(css) {
  ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
  const d = ctx.getImageData(0, 0, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255];
}
function over(top, bottom) {
  const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
}
function luminance(c) {
  const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function background(el) {
  const chain = []; for (let n = el; n && n.nodeType === 1; n = n.parentElement) chain.unshift(n);
  let colour = [255, 255, 255, 1];
  for (const n of chain) {
    const style = getComputedStyle(n);
    if (style.backgroundImage && style.backgroundImage !== 'none') return null;
    const c = rgba(style.backgroundColor); if (c[3] > 0) colour = over(c, colour);
  }
  return colour;
}
function visible(el) {
  const style = getComputedStyle(el);
  return style.visibility !== 'hidden' && style.display !== 'none' && el.getClientRects().length > 0 && parseFloat(style.opacity) > 0;
}
const problems = []; let checked = 0, unknown = 0;
const seen = new Set();
const candidates = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  if (!t.nodeValue.trim() || !t.parentElement || seen.has(t.parentElement)) continue;
  seen.add(t.parentElement); candidates.push(t.parentElement);
}
for (const el of document.querySelectorAll('input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea'))
  if (!seen.has(el)) candidates.push(el);
for (const el of candidates) {
  if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TITLE', 'OPTION'].includes(el.tagName) || !visible(el)) continue;
  if (el.disabled || el.closest('[disabled], [aria-disabled=true]')) continue;
  const style = getComputedStyle(el);
  const svg = el instanceof SVGElement;
  const paint = svg ? style.fill : style.color;
  if (!paint || paint === 'none' || paint.startsWith('url(')) { unknown++; continue; }
  const bg = background(svg ? el.ownerSVGElement || el : el);
  if (!bg) { unknown++; continue; }
  const fg = over(rgba(paint), bg);
  const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  checked++;
  if (ratio < minimum) {
    const text = (el.value || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    problems.push(`"${text}" in <${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? ' class="' + el.className + '"' : ''}>: ${ratio.toFixed(2)}:1 (${paint} on rgb(${bg.slice(0, 3).map(Math.round).join(', ')}))`);
  }
}
return {problems, checked, unknown};
"""

# What the keyboard focus is on, and whether it shows.
_FOCUSED = r"""
const el = document.activeElement;
if (!el || el === document.body) return null;
const style = getComputedStyle(el);
const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
const shadow = style.boxShadow && style.boxShadow !== 'none';
const text = (el.getAttribute('aria-label') || el.textContent || el.value || el.name || '').trim().replace(/\s+/g, ' ').slice(0, 30);
return {element: el, tag: el.tagName.toLowerCase(), name: el.name || '', text, shown: outline || shadow};
"""


# Every link and control past the first tab stops: focused in turn (after real Tab presses,
# so Chromium treats focus as keyboard focus and :focus-visible applies) and checked for a
# visible focus, and for what takes it out of the Tab order or reorders it.
_ALL_FOCUS = r"""
const problems = [];
const items = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]')]
  .filter(e => e.getClientRects().length > 0 && !e.disabled && getComputedStyle(e).visibility !== 'hidden');
function describe(e) {
  const text = (e.getAttribute('aria-label') || e.textContent || e.value || e.name || '').trim().replace(/\s+/g, ' ').slice(0, 30);
  return `<${e.tagName.toLowerCase()}> "${text}"`;
}
let checked = 0;
for (const e of items) {
  const index = e.getAttribute('tabindex');
  if (index !== null && parseInt(index, 10) > 0) problems.push(`${describe(e)} has tabindex ${index}, which reorders the Tab order`);
  if (index !== null && parseInt(index, 10) < 0 && e.matches('a[href], button, input, select, textarea'))
    { problems.push(`${describe(e)} is taken out of the Tab order (tabindex ${index})`); continue; }
  if (checked >= arguments[0]) continue;
  e.focus({preventScroll: true});
  if (document.activeElement !== e) continue;
  checked++;
  const style = getComputedStyle(e);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  if (!outline && !shadow) problems.push(`keyboard focus on ${describe(e)} is not visible (no outline or box-shadow)`);
}
if (document.activeElement) document.activeElement.blur();
return problems;
"""


def labels(driver):
    return driver.execute_script(_LABELS)


def contrast(driver):
    """Problems, and how many text elements were checked and could not be (over an image)."""
    answer = driver.execute_script(_CONTRAST, MINIMUM_CONTRAST)
    return answer["problems"], answer["checked"], answer["unknown"]


def tab_stops(driver, limit):
    """Presses Tab from the top of the page up to `limit` times; answers the focused elements
    in order (a dict per stop, see _FOCUSED), stopping when focus leaves the page or comes
    round again. Tabbing starts from a focusable marker put first in the body for the
    purpose and taken out afterwards, so an autofocus field or an earlier walk does not
    shift where it starts."""
    driver.execute_script(
        "const m = document.createElement('span'); m.id = '__tab_start'; m.tabIndex = 0;"
        "document.body.prepend(m); m.focus(); window.scrollTo(0, 0);")
    stops = []
    try:
        for _ in range(limit):
            ActionChains(driver).send_keys(Keys.TAB).perform()
            focused = driver.execute_script(_FOCUSED)
            if focused is None or focused["element"].get_attribute("id") == "__tab_start" or (
                    stops and focused["element"] == stops[0]["element"]):
                break
            stops.append(focused)
    finally:
        driver.execute_script("const m = document.getElementById('__tab_start'); if (m) m.remove();")
    return stops


def keyboard(driver, limit=12):
    """Problems with the first `limit` tab stops of the page: focus that does not show, or a
    page with links or controls that Tab does not reach at all."""
    problems = []
    stops = tab_stops(driver, limit)
    interactive = driver.execute_script(
        "return [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')]"
        ".filter(e => e.getClientRects().length > 0 && !e.disabled).length")
    if interactive and not stops:
        problems.append(f"Tab reaches none of the page's {interactive} links and controls")
    for stop in stops:
        if not stop["shown"]:
            problems.append(f"keyboard focus on <{stop['tag']}> \"{stop['text']}\" is not visible (no outline or box-shadow)")
    if stops:
        # The rest of the page's links and controls (at most 300: the API reference has
        # hundreds of links of the same kind), focused in turn.
        problems += [p for p in driver.execute_script(_ALL_FOCUS, 300) if p not in problems]
    return problems
