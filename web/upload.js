//! Attachment uploads with their progress (`POST /api/attachments`): each file is a row with
//! its name, a <progress> bar and the percent, a button to cancel it while it goes and one to
//! retry it when it failed. XMLHttpRequest, since fetch reports no upload progress. The server
//! keeps nothing of an upload it did not receive whole, so a cancelled one leaves no trace.

import { h, replace } from './dom.js';
import { addStrings, t } from './i18n.js';

addStrings({
  ru: {
    'upload.list': 'Загрузка файлов',
    'upload.progress': 'Загрузка файла {name}',
    'upload.percent': '{n}%',
    'upload.cancel': 'Отменить',
    'upload.cancel.label': 'Отменить загрузку файла {name}',
    'upload.retry': 'Повторить',
    'upload.retry.label': 'Повторить загрузку файла {name}',
    'upload.dismiss': 'Убрать',
    'upload.dismiss.label': 'Убрать файл {name}',
    'upload.failed': 'Не удалось загрузить {name}: {msg}',
    'upload.cancelled': 'Загрузка файла {name} отменена.',
    'upload.done': 'Файл {name} загружен.',
    'upload.network': 'нет связи с сервером',
  },
  en: {
    'upload.list': 'File uploads',
    'upload.progress': 'Uploading {name}',
    'upload.percent': '{n}%',
    'upload.cancel': 'Cancel',
    'upload.cancel.label': 'Cancel the upload of {name}',
    'upload.retry': 'Retry',
    'upload.retry.label': 'Retry the upload of {name}',
    'upload.dismiss': 'Remove',
    'upload.dismiss.label': 'Remove {name}',
    'upload.failed': 'Could not upload {name}: {msg}',
    'upload.cancelled': 'The upload of {name} was cancelled.',
    'upload.done': '{name} uploaded.',
    'upload.network': 'no connection to the server',
  },
});

let nextRow = 0;

/// The uploads of one composer. `token()` gives the bearer token; `onUploaded(attachment)`
/// receives `{id, name, content_type, size}` of each file the server stored.
export class Uploads {
  constructor({ token, onUploaded }) {
    this.token = token;
    this.onUploaded = onUploaded;
    this.items = new Set();
    this.list = h('ul', { class: 'uploads', 'aria-label': t('upload.list') });
    this.said = h('p', { class: 'sr-only', role: 'status' });
    this.el = h('div', { class: 'upload-area' }, this.list, this.said);
  }

  /// Whether a file is still on its way.
  get busy() {
    return [...this.items].some((item) => item.xhr);
  }

  /// Starts uploading `file`.
  add(file) {
    nextRow += 1;
    const item = { file, id: `upload-${nextRow}`, xhr: null, error: null, percent: 0 };
    this.items.add(item);
    item.row = h('li', { class: 'upload', 'data-name': file.name });
    this.list.append(item.row);
    this.send(item);
  }

  send(item) {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    item.error = null;
    item.percent = 0;
    xhr.open('POST', `/api/attachments?name=${encodeURIComponent(item.file.name)}`);
    xhr.setRequestHeader('Authorization', `Bearer ${this.token()}`);
    xhr.setRequestHeader('Content-Type', item.file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable || !e.total) return;
      item.percent = Math.min(100, Math.floor((e.loaded * 100) / e.total));
      this.showPercent(item);
    });
    xhr.addEventListener('load', () => {
      item.xhr = null;
      const body = xhr.response ?? {};
      if (xhr.status === 201) {
        this.forget(item);
        this.say(t('upload.done', { name: item.file.name }));
        this.onUploaded(body.attachment ?? body);
      } else {
        this.fail(item, body.message ?? `HTTP ${xhr.status}`);
      }
    });
    xhr.addEventListener('error', () => {
      item.xhr = null;
      this.fail(item, t('upload.network'));
    });
    xhr.addEventListener('abort', () => {
      item.xhr = null;
      this.forget(item);
      this.say(t('upload.cancelled', { name: item.file.name }));
    });
    this.draw(item);
    xhr.send(item.file);
  }

  fail(item, message) {
    item.error = message;
    this.draw(item);
    this.say(t('upload.failed', { name: item.file.name, msg: message }));
  }

  forget(item) {
    this.items.delete(item);
    item.row.remove();
  }

  say(text) {
    this.said.textContent = text;
  }

  /// Only the bar and the figure change while bytes go: the buttons keep their focus.
  showPercent(item) {
    if (!item.bar) return;
    item.bar.value = item.percent;
    item.figure.textContent = t('upload.percent', { n: item.percent });
  }

  draw(item) {
    const name = item.file.name;
    if (item.error !== null) {
      item.bar = null;
      const retry = h('button', {
        type: 'button', class: 'upload-retry', 'aria-label': t('upload.retry.label', { name }),
        onclick: () => { this.send(item); item.row.querySelector('.upload-cancel')?.focus(); },
      }, t('upload.retry'));
      replace(item.row,
        h('span', { class: 'upload-name' }, name),
        h('span', { class: 'upload-error error' }, t('upload.failed', { name, msg: item.error })),
        retry,
        h('button', {
          type: 'button', class: 'link upload-dismiss', 'aria-label': t('upload.dismiss.label', { name }),
          onclick: () => this.forget(item),
        }, t('upload.dismiss')));
      item.row.classList.add('failed');
      return;
    }
    item.row.classList.remove('failed');
    item.bar = h('progress', { id: item.id, max: 100, value: item.percent });
    item.figure = h('span', { class: 'upload-percent', 'aria-hidden': 'true' }, t('upload.percent', { n: item.percent }));
    replace(item.row,
      h('label', { for: item.id, class: 'upload-name' }, t('upload.progress', { name })),
      item.bar,
      item.figure,
      h('button', {
        type: 'button', class: 'upload-cancel', 'aria-label': t('upload.cancel.label', { name }),
        onclick: () => item.xhr?.abort(),
      }, t('upload.cancel')));
  }
}
