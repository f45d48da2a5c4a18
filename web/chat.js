//! Chat: the list of the user's threads with unread counts, and one thread's messages with a
//! composer (text, a photo from the phone's camera, files). Sends carry a `client_id`, so a
//! send retried after a reconnect is stored once.

import { h, randomId, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { formatDateTime, formatMessageTime } from './locale.js';
import { Uploads } from './upload.js';

/// One thread: its messages, older pages on demand, the composer.
export class ThreadPanel {
  constructor(app, threadId, { title = '', onRead = () => {}, anonymous = false } = {}) {
    this.app = app;
    /// A student of the thread asks anonymously (`thread summary.anonymous`).
    this.anonymous = anonymous;
    this.thread = threadId;
    this.title = title;
    this.onRead = onRead;
    this.messages = new Map();
    this.pending = new Map();
    this.attachments = [];
    this.uploads = new Uploads({
      token: () => this.app.token,
      onUploaded: (attachment) => {
        this.attachments.push(attachment);
        this.renderAttached();
      },
    });
    this.firstSeq = null;
    this.lastSeq = 0;
    this.hasMore = false;
    this.lastTyping = 0;
    this.unsubscribe = [
      app.conn.on('message', (m) => this.onMessage(m.message)),
      app.conn.on('sent', (m) => this.onMessage(m.message)),
      app.conn.on('typing', (m) => this.onTyping(m)),
      app.conn.on('welcome', () => this.catchUp()),
    ];
    // What arrives while the tab is hidden stays unread until it shows.
    this.onVisible = () => this.markRead();
    document.addEventListener('visibilitychange', this.onVisible);
    this.el = h('section', { class: 'chat', 'aria-label': t('chat.heading') });
    this.render();
    this.load();
  }

  render() {
    const uid = `t${this.thread}`;
    this.status = h('p', { class: 'error', role: 'alert' });
    this.typing = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.olderButton = h('button', { type: 'button', class: 'link', hidden: !this.hasMore, onclick: () => this.loadOlder() }, t('chat.older'));
    this.list = h('ol', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': this.title || t('chat.heading') });
    this.text = h('textarea', { id: `${uid}-text`, rows: 2, maxlength: 8000, class: 'chat-text' });
    this.text.addEventListener('input', () => this.sendTyping());
    this.text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    const photo = h('input', { id: `${uid}-photo`, type: 'file', accept: 'image/*', capture: 'environment', class: 'sr-only', onchange: (e) => this.upload(e.target) });
    const file = h('input', { id: `${uid}-file`, type: 'file', multiple: true, class: 'sr-only', onchange: (e) => this.upload(e.target) });
    this.attachedList = h('p', { class: 'attached', 'aria-live': 'polite' });
    this.form = h('form', { class: 'composer' },
      h('label', { for: `${uid}-text`, class: 'sr-only' }, t('chat.text')),
      this.text,
      h('div', { class: 'composer-actions' },
        photo, h('label', { for: `${uid}-photo`, class: 'button', title: t('chat.photo.label') }, t('chat.photo')),
        file, h('label', { for: `${uid}-file`, class: 'button', title: t('chat.file.label') }, t('chat.file')),
        h('button', { type: 'submit', class: 'primary chat-send' }, t('chat.send'))),
      this.uploads.el,
      this.attachedList);
    // Labels of hidden file inputs must stay keyboard-reachable.
    for (const label of this.form.querySelectorAll('label.button')) {
      label.tabIndex = 0;
      label.setAttribute('role', 'button');
      label.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          document.getElementById(label.htmlFor).click();
        }
      });
    }
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.anonActions = h('div', { class: 'anon-actions' });
    replace(this.el, this.title ? h('h3', {}, this.title) : null, this.olderButton, this.list, this.typing, this.form, this.anonActions, this.status);
    this.renderMessages();
    this.renderAttached();
  }

  async load() {
    try {
      const page = await this.app.conn.request({ type: 'history', thread: this.thread });
      this.addPage(page);
      this.markRead();
    } catch (err) {
      this.status.textContent = err.code === 'unavailable' ? t('chat.unavailable') : this.app.errorText(err);
    }
  }

  async loadOlder() {
    if (this.firstSeq === null) return;
    try {
      const page = await this.app.conn.request({ type: 'history', thread: this.thread, before: this.firstSeq });
      this.addPage(page);
    } catch (err) {
      this.status.textContent = this.app.errorText(err);
    }
  }

  /// After a reconnect: fetch what came meanwhile and re-send what got no `sent`.
  async catchUp() {
    try {
      for (;;) {
        const page = await this.app.conn.request({ type: 'history', thread: this.thread, after: this.lastSeq });
        for (const m of page.messages) this.onMessage(m);
        if (!page.has_more || page.messages.length === 0) break;
      }
    } catch {
      // The next reconnect tries again.
    }
    for (const item of this.pending.values()) this.transmit(item);
  }

  addPage(page) {
    for (const m of page.messages) this.store(m);
    if (page.messages.length && (this.firstSeq === null || page.messages[0].seq <= this.firstSeq)) {
      this.hasMore = page.has_more;
    }
    this.renderMessages();
  }

  store(message) {
    this.messages.set(message.seq, message);
    this.pending.delete(message.client_id);
    if (this.firstSeq === null || message.seq < this.firstSeq) this.firstSeq = message.seq;
    if (message.seq > this.lastSeq) this.lastSeq = message.seq;
  }

  onMessage(message) {
    if (message.thread !== this.thread) return;
    this.store(message);
    this.renderMessages();
    this.markRead();
  }

  onTyping(m) {
    if (m.thread !== this.thread || m.user === this.app.user.id) return;
    this.typing.textContent = t('chat.typing', { name: this.app.nameOf(m.user) });
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { this.typing.textContent = ''; }, 3000);
  }

  markRead() {
    if (!this.lastSeq || this.lastSeq === this.readSeq || !this.el.isConnected || document.hidden) return;
    this.readSeq = this.lastSeq;
    this.app.conn.send({ type: 'read', thread: this.thread, seq: this.lastSeq });
    this.onRead(this.thread, this.lastSeq);
  }

  sendTyping() {
    const now = Date.now();
    if (now - this.lastTyping < 2000) return;
    this.lastTyping = now;
    this.app.conn.send({ type: 'typing', thread: this.thread });
  }

  renderMessages() {
    const items = [...this.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => this.renderMessage(m));
    for (const p of this.pending.values()) items.push(this.renderMessage({ ...p.message, from: this.app.user.id }, true));
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    replace(this.list, items);
    this.renderAnonActions();
    this.olderButton.hidden = !this.hasMore;
    if (atBottom || items.length < 20) this.list.scrollTop = this.list.scrollHeight;
  }

  /// An anonymous student's "tell who I am" button; the psychologist's button closing an
  /// anonymous student's thread and blocking their anonymous questions for a day.
  renderAnonActions() {
    const app = this.app;
    if (app.user.anonymous && !this.revealed) {
      replace(this.anonActions, h('button', { type: 'button', class: 'chat-reveal', onclick: () => this.reveal() }, t('anon.reveal')));
      return;
    }
    const anonymousHere = this.anonymous || [...this.messages.values()].some((m) => app.users.get(m.from)?.anonymous);
    if (app.user.role === 'support' && anonymousHere && !this.blocked) {
      replace(this.anonActions, h('button', { type: 'button', class: 'chat-block', onclick: () => this.block() }, t('anon.block')));
      return;
    }
    replace(this.anonActions, this.blocked ? h('p', { class: 'notice' }, t('anon.blocked_done')) : null);
  }

  async reveal() {
    try {
      await this.app.conn.request({ type: 'reveal_identity', thread: this.thread, token: this.app.ownToken() });
      this.revealed = true;
      this.renderAnonActions();
    } catch (err) {
      this.status.textContent = this.app.errorText(err);
    }
  }

  async block() {
    try {
      await this.app.conn.request({ type: 'block_anonymous', thread: this.thread });
      this.blocked = true;
      this.renderAnonActions();
    } catch (err) {
      this.status.textContent = this.app.errorText(err);
    }
  }

  renderMessage(m, pending = false) {
    const mine = m.from === this.app.user.id;
    const time = m.ts ? formatMessageTime(m.ts) : '…';
    return h('li', { class: `message${mine ? ' mine' : ''}${pending ? ' pending' : ''}`, 'data-seq': m.seq ?? '' },
      h('span', { class: 'from' }, this.app.nameOf(m.from)), ' ',
      h('time', { class: 'ts', datetime: m.ts ? new Date(m.ts).toISOString() : null, title: m.ts ? formatDateTime(m.ts) : null }, time),
      h('p', { class: 'text' }, m.text),
      (m.attachments ?? []).map((a) => this.renderAttachment(a)));
  }

  renderAttachment(a) {
    const holder = h('div', { class: 'attachment' });
    const open = async () => {
      const url = await this.fetchAttachment(a.id);
      if (!url) return;
      if (a.content_type?.startsWith('image/')) {
        replace(holder, h('img', { src: url, alt: a.name }));
      } else {
        const link = h('a', { href: url, download: a.name }, a.name);
        replace(holder, link);
        link.click();
      }
    };
    if (a.content_type?.startsWith('image/')) {
      open();
      return holder;
    }
    replace(holder, h('button', { type: 'button', class: 'link', onclick: open }, `${a.name} (${Math.ceil(a.size / 1024)} KB)`));
    return holder;
  }

  /// Attachments need the bearer token, so they are fetched and shown from a blob URL.
  async fetchAttachment(id) {
    try {
      const res = await fetch(`/api/attachments/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${this.app.token}` } });
      if (!res.ok) throw new Error(res.status);
      return URL.createObjectURL(await res.blob());
    } catch (err) {
      this.status.textContent = this.app.errorText(err);
      return null;
    }
  }

  upload(input) {
    for (const file of input.files) this.uploads.add(file);
    input.value = '';
  }

  renderAttached() {
    this.attachedList.textContent = this.attachments.length
      ? t('chat.attached', { names: this.attachments.map((a) => a.name).join(', ') })
      : '';
  }

  send() {
    const text = this.text.value.trim();
    if (!text && !this.attachments.length) return;
    const message = { type: 'send', thread: this.thread, client_id: randomId(), text };
    if (this.attachments.length) message.attachments = this.attachments.map((a) => a.id);
    const item = { message: { ...message, attachments: this.attachments.slice() } };
    this.pending.set(message.client_id, item);
    this.text.value = '';
    this.attachments = [];
    this.renderAttached();
    this.renderMessages();
    item.wire = message;
    this.transmit(item);
  }

  async transmit(item) {
    try {
      const reply = await this.app.conn.request(item.wire);
      this.onMessage(reply.message);
      this.status.textContent = '';
    } catch (err) {
      if (err.code === 'unavailable' && !this.app.conn.isOpen) return; // re-sent after reconnect
      this.pending.delete(item.wire.client_id);
      this.renderMessages();
      this.status.textContent = err.code === 'unavailable' ? t('chat.unavailable') : this.app.errorText(err);
    }
  }

  close() {
    this.unsubscribe.forEach((off) => off());
    document.removeEventListener('visibilitychange', this.onVisible);
  }
}

/// The user's threads, newest activity first, with unread counts; opens one at a time.
export class Inbox {
  constructor(app) {
    this.app = app;
    this.threads = new Map();
    this.open = null;
    this.el = h('section', { class: 'card inbox', 'aria-labelledby': 'inbox-heading' });
    app.conn.on('message', (m) => this.onMessage(m.message));
    app.conn.on('sent', (m) => this.onMessage(m.message));
    app.conn.on('thread_added', (m) => this.upsert(m.thread));
    app.conn.on('welcome', () => this.load());
    this.render();
    this.load();
  }

  async load() {
    try {
      const reply = await this.app.conn.request({ type: 'threads' });
      this.threads = new Map(reply.threads.map((th, i) => [th.id, { ...th, order: -i }]));
      this.unavailable = false;
    } catch (err) {
      this.unavailable = err.code === 'unavailable';
    }
    this.renderList();
  }

  upsert(thread) {
    this.threads.set(thread.id, { ...this.threads.get(thread.id), ...thread, order: Date.now() });
    this.renderList();
  }

  onMessage(message) {
    const th = this.threads.get(message.thread);
    if (!th) {
      this.load();
      return;
    }
    th.last_seq = Math.max(th.last_seq ?? 0, message.seq);
    th.order = Date.now();
    if (message.from === this.app.user.id || (this.open?.thread === th.id && !document.hidden)) th.read_seq = th.last_seq;
    th.unread = Math.max(0, th.last_seq - (th.read_seq ?? 0));
    this.renderList();
  }

  render() {
    this.listEl = h('ul', { class: 'threads' });
    this.viewEl = h('div', { class: 'thread-view' });
    replace(this.el, h('h2', { id: 'inbox-heading' }, t('inbox.heading')), this.listEl, this.viewEl);
    this.renderList();
    if (this.open) {
      const id = this.open.thread;
      this.open.close();
      this.open = null;
      this.openThread(id);
    }
  }

  renderList() {
    this.app.notifier?.threadsChanged(this.threads.values());
    const threads = [...this.threads.values()].sort((a, b) => b.order - a.order);
    if (this.unavailable) {
      replace(this.listEl, h('li', {}, t('chat.unavailable')));
      return;
    }
    if (!threads.length) {
      replace(this.listEl, h('li', {}, t('threads.none')));
      return;
    }
    replace(this.listEl, threads.map((th) => {
      const unread = th.unread > 0 ? t('threads.unread', { n: th.unread }) : '';
      return h('li', {},
        h('button', {
          type: 'button', class: `thread${this.open?.thread === th.id ? ' current' : ''}`, 'data-thread': th.id,
          'aria-current': this.open?.thread === th.id ? 'true' : null,
          'aria-label': [threadTitle(th), t(`thread.kind.${th.kind}`), unread].filter(Boolean).join(', '),
          onclick: () => this.openThread(th.id),
        },
        h('span', { class: 'thread-title' }, threadTitle(th)),
        h('span', { class: 'thread-kind' }, t(`thread.kind.${th.kind}`)),
        th.unread > 0 ? h('span', { class: 'badge', 'aria-hidden': 'true' }, th.unread) : null));
    }));
  }

  /// Opens a thread (a deferred request's, a session's, ...).
  openThread(id) {
    this.open?.close();
    const th = this.threads.get(id);
    this.open = new ThreadPanel(this.app, id, {
      title: th ? threadTitle(th) : '',
      anonymous: Boolean(th?.anonymous),
      onRead: (thread, seq) => {
        const entry = this.threads.get(thread);
        if (entry) {
          entry.read_seq = seq;
          entry.unread = Math.max(0, (entry.last_seq ?? 0) - seq);
          this.renderList();
        }
      },
    });
    replace(this.viewEl, h('button', { type: 'button', class: 'link', onclick: () => this.closeThread() }, t('chat.back')), this.open.el);
    this.renderList();
    this.open.text.focus();
  }

  closeThread() {
    this.open?.close();
    this.open = null;
    replace(this.viewEl);
    this.renderList();
  }
}

/// A thread's title for people: a deferred request's thread is titled `<subject code>: <topic>`
/// by the server; the subject is shown by its name.
export function threadTitle(thread) {
  const m = /^([a-z_]+): /.exec(thread.title ?? '');
  if (!thread.request || !m) return thread.title ?? '';
  return `${subjectName(m[1])}: ${thread.title.slice(m[0].length)}`;
}
