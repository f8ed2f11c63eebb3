/**
 * Plays a user in a page under headless Chromium (`--dump-dom` gives no other way to interact):
 * the page includes `uiPlayerScript()`, the test passes the steps as `?steps=<json>`, and reads
 * what was recorded from the dumped DOM with `playerResult()`. Every step waits (up to 400 polls)
 * for its element, and for buttons until they are enabled.
 */
export type UiStep =
  | { waitFor: string }
  | { waitForText: string; text: string }
  | { click: string }
  | { select: string; value: string }
  | { type: string; value: string }
  | { scrollTo: string; top: number }
  | { record: string; as: string }
  | { sleep: number };

export interface UiRecord { as: string; scrollTop: number; scrollHeight: number; clientHeight: number; scrollWidth: number; clientWidth: number; text: string }
export interface UiPlayerResult { state: 'done' | 'failed' | 'missing'; records: UiRecord[]; error: string }

export function stepsQuery(steps: UiStep[]): string {
  return `steps=${encodeURIComponent(JSON.stringify(steps))}`;
}

export function uiPlayerScript(): string {
  return `
(() => {
  const raw = new URLSearchParams(location.search).get('steps');
  if (!raw) return;
  const steps = JSON.parse(raw);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Under --virtual-time-budget, timers fast-forward while the page's own fetches take real time;
  // a real round trip to the host per poll lets those fetches finish before the player gives up.
  const tick = () => fetch('/__ui-player-tick', { cache: 'no-store' }).then(() => undefined, () => undefined);
  async function find(selector, enabled) {
    for (let i = 0; i < 400; i += 1) {
      const el = document.querySelector(selector);
      if (el && (!enabled || !el.disabled)) return el;
      await sleep(20);
      await tick();
    }
    throw new Error('not found' + (enabled ? ' or disabled' : '') + ': ' + selector);
  }
  const records = [];
  const out = document.createElement('pre');
  out.id = 'ui-player';
  const run = async () => {
    for (const step of steps) {
      if (step.waitFor) await find(step.waitFor, false);
      else if (step.waitForText) {
        let i = 0;
        while (!(document.querySelector(step.waitForText)?.textContent || '').includes(step.text)) {
          if ((i += 1) > 400) throw new Error('text not found: ' + step.text + ' in ' + step.waitForText);
          await sleep(20);
          await tick();
        }
      }
      else if (step.click) (await find(step.click, true)).click();
      else if (step.select) { const el = await find(step.select, false); el.value = step.value; el.dispatchEvent(new Event('change', { bubbles: true })); }
      else if (step.type) { const el = await find(step.type, false); el.focus(); el.value = step.value; el.dispatchEvent(new Event('input', { bubbles: true })); }
      else if (step.scrollTo) { const el = await find(step.scrollTo, false); el.scrollTop = step.top; el.dispatchEvent(new Event('scroll')); }
      else if (step.record) { const el = await find(step.record, false); records.push({ as: step.as, scrollTop: Math.round(el.scrollTop), scrollHeight: el.scrollHeight, clientHeight: el.clientHeight, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, text: el.textContent.replace(/\\s+/g, ' ').trim() }); }
      else if (step.sleep) await sleep(step.sleep);
    }
  };
  const start = () => run().then(
    () => { out.dataset.state = 'done'; },
    (error) => { out.dataset.state = 'failed'; out.dataset.error = String(error && error.message || error); },
  ).finally(() => { out.textContent = JSON.stringify(records); out.hidden = true; document.body.append(out); });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();`;
}

/** The player's outcome from a `--dump-dom` of the page. */
export function playerResult(dom: string): UiPlayerResult {
  const match = /<pre id="ui-player" data-state="(done|failed)"(?: data-error="([^"]*)")?[^>]*>([\s\S]*?)<\/pre>/.exec(dom);
  if (!match) return { state: 'missing', records: [], error: '' };
  const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return { state: match[1] as 'done' | 'failed', error: decode(match[2] ?? ''), records: JSON.parse(decode(match[3] ?? '[]')) as UiRecord[] };
}
