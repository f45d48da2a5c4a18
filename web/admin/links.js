//! The useful links on the public /help page (item 14 of the regulation): a row per link with
//! its title and address, moved up and down, removed, added, and saved together in order.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api, failure } from './api.js';
import { $, say } from './page.js';

/// The links as drawn, in order.
let links = [];

/// Keeps what was typed into the link rows before they are redrawn.
function readLinks() {
  return [...document.querySelectorAll('#links-list li')].map((li) => ({
    title: li.querySelector('[name=title]').value,
    url: li.querySelector('[name=url]').value,
  }));
}

function drawLinks(focus) {
  const rows = links.map((link, i) => {
    const n = i + 1;
    const move = (to) => () => {
      links = readLinks();
      const [moved] = links.splice(i, 1);
      links.splice(to, 0, moved);
      drawLinks(`#link-${to}-${to < i ? 'up' : 'down'}`);
    };
    return h('li', {},
      h('fieldset', {},
        h('legend', {}, t('admin.link_n', { n })),
        h('div', { class: 'field' }, h('label', { for: `link-${i}-title` }, t('admin.link_title')),
          h('input', { id: `link-${i}-title`, name: 'title', value: link.title, required: true, maxlength: 200 })),
        h('div', { class: 'field grow' }, h('label', { for: `link-${i}-url` }, t('admin.link_url')),
          h('input', { id: `link-${i}-url`, name: 'url', type: 'url', value: link.url, required: true, maxlength: 2000, pattern: 'https?://.+' })),
        h('div', { class: 'row-actions' },
          h('button', { type: 'button', id: `link-${i}-up`, disabled: i === 0, 'aria-label': `${t('admin.up')}: ${t('admin.link_n', { n })}`, onclick: move(i - 1) }, '↑'),
          h('button', { type: 'button', id: `link-${i}-down`, disabled: i === links.length - 1, 'aria-label': `${t('admin.down')}: ${t('admin.link_n', { n })}`, onclick: move(i + 1) }, '↓'),
          h('button', {
            type: 'button', class: 'danger', 'aria-label': `${t('admin.remove')}: ${t('admin.link_n', { n })}`,
            onclick: () => {
              links = readLinks();
              links.splice(i, 1);
              drawLinks('#link-add');
            },
          }, t('admin.remove')))));
  });
  $('#links-list').replaceChildren(...rows);
  const target = focus ? $(focus) : null;
  if (target?.disabled) target.closest('fieldset').querySelector('input').focus();
  else target?.focus();
}

export async function render() {
  ({ links } = await api('GET', '/api/admin/help-links'));
  $('#links-error').textContent = '';
  drawLinks();
}

function addLink() {
  links = [...readLinks(), { title: '', url: 'https://' }];
  drawLinks(`#link-${links.length - 1}-title`);
}

async function saveLinks(event) {
  event.preventDefault();
  const typed = readLinks().map((l) => ({ title: l.title.trim(), url: l.url.trim() }));
  const error = $('#links-error');
  error.textContent = '';
  try {
    const answer = await api('PUT', '/api/admin/help-links', typed);
    links = answer.links;
    drawLinks();
    say(t('admin.links_saved', { n: answer.links.length }));
  } catch (e) {
    error.textContent = failure(e);
  }
}

export function wire() {
  $('#link-add').addEventListener('click', addLink);
  $('#links-form').addEventListener('submit', saveLinks);
}
