//! Polls in a live group or frontal session: the host's (and teacher co-hosts') form that asks
//! one, the live counts and closing it; a member's question with buttons (one choice) or
//! checkboxes (several) that work on a phone; the published result.

import { h, replace } from './dom.js';
import { addStrings, t } from './i18n.js';

addStrings({
  ru: {
    'poll.new': 'Опрос',
    'poll.heading': 'Опрос',
    'poll.question': 'Вопрос',
    'poll.kind': 'Тип',
    'poll.kind.single': 'Один ответ',
    'poll.kind.multiple': 'Несколько ответов',
    'poll.kind.yes_no': 'Да или нет',
    'poll.option': 'Вариант {n}',
    'poll.add_option': 'Добавить вариант',
    'poll.anonymous': 'Анонимно (не показывать, кто как ответил)',
    'poll.ask': 'Спросить',
    'poll.cancel': 'Отмена',
    'poll.yes': 'Да',
    'poll.no': 'Нет',
    'poll.vote': 'Ответить',
    'poll.voted': 'Ваш ответ принят. Его можно изменить, пока опрос открыт.',
    'poll.voters': { one: 'Ответил {count} участник', few: 'Ответили {count} участника', many: 'Ответили {count} участников', other: 'Ответили {count} участника' },
    'poll.publish': 'Показать итоги всем',
    'poll.close': 'Завершить опрос',
    'poll.closed': 'Опрос завершён',
    'poll.result': 'Итоги опроса',
    'poll.hidden': 'Ведущий не показал итоги.',
    'poll.who': 'Кто ответил',
  },
  en: {
    'poll.new': 'Poll',
    'poll.heading': 'Poll',
    'poll.question': 'Question',
    'poll.kind': 'Kind',
    'poll.kind.single': 'One answer',
    'poll.kind.multiple': 'Several answers',
    'poll.kind.yes_no': 'Yes or no',
    'poll.option': 'Option {n}',
    'poll.add_option': 'Add an option',
    'poll.anonymous': 'Anonymous (do not show who answered what)',
    'poll.ask': 'Ask',
    'poll.cancel': 'Cancel',
    'poll.yes': 'Yes',
    'poll.no': 'No',
    'poll.vote': 'Answer',
    'poll.voted': 'Your answer is in. You may change it while the poll is open.',
    'poll.voters': { one: '{count} member answered', other: '{count} members answered' },
    'poll.publish': 'Show the results to everyone',
    'poll.close': 'Close the poll',
    'poll.closed': 'The poll is closed',
    'poll.result': 'Poll results',
    'poll.hidden': 'The host did not show the results.',
    'poll.who': 'Who answered',
  },
});

const MAX_OPTIONS = 10;

export class PollPanel {
  /// `view`: the session on screen, which says whether this user steers polls and names
  /// members.
  constructor(app, view) {
    this.app = app;
    this.view = view;
    this.poll = null;
    this.counts = null;
    this.result = null;
    this.mine = [];
    this.composing = false;
    this.draft = { question: '', kind: 'single', options: ['', ''], anonymous: false };
    this.el = h('section', { class: 'polls', 'aria-live': 'polite' });
    this.unsubscribe = [
      app.conn.on('poll', (m) => this.onPoll(m)),
      app.conn.on('poll_counts', (m) => this.onCounts(m)),
      app.conn.on('poll_closed', (m) => this.onClosed(m)),
    ];
    this.render();
  }

  get session() {
    return this.view.id;
  }

  onPoll(m) {
    if (m.session !== this.session) return;
    if (this.poll?.id !== m.poll.id) this.mine = [];
    this.poll = m.poll;
    this.counts = null;
    this.result = null;
    this.composing = false;
    this.app.announce(`${t('poll.heading')}: ${m.poll.question}`);
    this.render();
  }

  onCounts(m) {
    if (m.session !== this.session || this.poll?.id !== m.poll) return;
    this.counts = m;
    this.render();
  }

  onClosed(m) {
    if (m.session !== this.session) return;
    this.result = { ...m, poll: this.poll };
    this.poll = null;
    this.counts = null;
    this.app.announce(t('poll.closed'));
    this.render();
  }

  /// The options' names: the texts, or yes and no in the page's language.
  names(poll) {
    return poll.kind === 'yes_no' ? [t('poll.yes'), t('poll.no')] : poll.options;
  }

  async request(msg) {
    try {
      await this.app.conn.request({ ...msg, session: this.session });
      return true;
    } catch (err) {
      this.view.notice(this.app.errorText(err));
      return false;
    }
  }

  async vote(choices) {
    const poll = this.poll;
    if (!poll) return;
    if (await this.request({ type: 'vote', poll: poll.id, choices })) {
      this.mine = choices;
      this.render();
      this.view.notice(t('poll.voted'));
    }
  }

  async ask() {
    const d = this.draft;
    const msg = { type: 'create_poll', question: d.question, kind: d.kind, anonymous: d.anonymous };
    if (d.kind !== 'yes_no') msg.options = d.options.filter((o) => o.trim() !== '');
    if (await this.request(msg)) {
      this.draft = { question: '', kind: 'single', options: ['', ''], anonymous: false };
      this.composing = false;
      this.render();
    }
  }

  render() {
    const steer = this.view.steersPolls;
    const parts = [];
    if (this.poll) parts.push(this.renderOpen(steer));
    else if (this.composing && steer) parts.push(this.renderForm());
    else if (steer) parts.push(h('button', { type: 'button', class: 'poll-new', onclick: () => { this.composing = true; this.render(); } }, t('poll.new')));
    if (this.result && !this.poll) parts.push(this.renderResult());
    replace(this.el, parts);
  }

  renderForm() {
    const d = this.draft;
    const field = (id, label, input) => h('p', { class: 'field' }, h('label', { for: id }, label), input);
    const options = d.kind === 'yes_no' ? [] : d.options.map((text, i) => field(`poll-option-${i}`, t('poll.option', { n: i + 1 }),
      h('input', { id: `poll-option-${i}`, class: 'poll-option', maxlength: '100', value: text, oninput: (e) => { d.options[i] = e.target.value; } })));
    return h('form', { class: 'poll-form', onsubmit: (e) => { e.preventDefault(); this.ask(); } },
      h('h3', {}, t('poll.heading')),
      field('poll-question', t('poll.question'), h('input', { id: 'poll-question', required: true, maxlength: '300', value: d.question, oninput: (e) => { d.question = e.target.value; } })),
      field('poll-kind', t('poll.kind'), h('select', { id: 'poll-kind', onchange: (e) => { d.kind = e.target.value; this.render(); } },
        ['single', 'multiple', 'yes_no'].map((k) => h('option', { value: k, selected: d.kind === k }, t('poll.kind.' + k))))),
      options,
      d.kind !== 'yes_no' && d.options.length < MAX_OPTIONS
        ? h('button', { type: 'button', class: 'poll-add-option', onclick: () => { d.options.push(''); this.render(); } }, t('poll.add_option'))
        : null,
      h('p', { class: 'field check' }, h('label', {}, h('input', { type: 'checkbox', class: 'poll-anonymous', checked: d.anonymous, onchange: (e) => { d.anonymous = e.target.checked; } }), ' ', t('poll.anonymous'))),
      h('p', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary poll-ask' }, t('poll.ask')), ' ',
        h('button', { type: 'button', onclick: () => { this.composing = false; this.render(); } }, t('poll.cancel'))));
  }

  /// The open poll: the question with its answers for everyone, and for those who steer it
  /// the live counts and closing.
  renderOpen(steer) {
    const poll = this.poll;
    const names = this.names(poll);
    let answers;
    if (poll.kind === 'multiple') {
      const boxes = names.map((name, i) => h('label', { class: 'poll-choice' },
        h('input', { type: 'checkbox', value: String(i), checked: this.mine.includes(i) }), ' ', name));
      answers = h('form', { class: 'poll-answers', onsubmit: (e) => {
        e.preventDefault();
        const chosen = [...e.target.querySelectorAll('input:checked')].map((x) => Number(x.value));
        if (chosen.length) this.vote(chosen);
      } }, boxes, h('button', { type: 'submit', class: 'primary poll-vote' }, t('poll.vote')));
    } else {
      answers = h('div', { class: 'poll-answers', role: 'group', 'aria-label': poll.question },
        names.map((name, i) => h('button', { type: 'button', class: `poll-choice${this.mine.includes(i) ? ' chosen' : ''}`, 'aria-pressed': String(this.mine.includes(i)), 'data-choice': i, onclick: () => this.vote([i]) }, name)));
    }
    return h('div', { class: 'poll open', 'data-poll': poll.id },
      h('h3', {}, t('poll.heading')),
      h('p', { class: 'poll-question' }, poll.question),
      answers,
      steer ? this.renderCounts(poll, names) : null);
  }

  renderCounts(poll, names) {
    const c = this.counts;
    const counts = c?.counts ?? names.map(() => 0);
    const voters = c?.voters ?? 0;
    const publish = h('input', { type: 'checkbox', class: 'poll-publish', checked: true });
    const who = (i) => (c?.votes ?? []).filter((v) => v.choices.includes(i)).map((v) => this.view.nameOf(v.user)).join(', ');
    return h('div', { class: 'poll-live' },
      this.table(names, counts, voters, who),
      h('p', { class: 'field check' }, h('label', {}, publish, ' ', t('poll.publish'))),
      h('button', { type: 'button', class: 'danger poll-close', onclick: () => this.request({ type: 'close_poll', poll: poll.id, publish: publish.checked }) }, t('poll.close')));
  }

  /// Each option with its votes as a bar and a number; `who` names the voters of a named poll.
  table(names, counts, voters, who = () => '') {
    const most = Math.max(1, voters);
    return h('div', { class: 'poll-counts' },
      h('ul', {}, names.map((name, i) => h('li', { class: 'poll-count', 'data-choice': i },
        h('span', { class: 'poll-option-name' }, name), ' ',
        h('progress', { max: String(most), value: String(counts[i] ?? 0), 'aria-hidden': 'true' }), ' ',
        h('strong', { class: 'poll-number' }, String(counts[i] ?? 0)),
        who(i) ? h('small', { class: 'poll-who' }, ` ${who(i)}`) : null))),
      h('p', { class: 'poll-voters' }, t('poll.voters', { count: voters })));
  }

  renderResult() {
    const r = this.result;
    const names = r.poll ? this.names(r.poll) : [];
    return h('div', { class: 'poll closed' },
      h('h3', {}, t('poll.result')),
      r.poll ? h('p', { class: 'poll-question' }, r.poll.question) : null,
      r.counts ? this.table(names, r.counts, r.voters ?? 0) : h('p', {}, t('poll.hidden')));
  }

  close() {
    this.unsubscribe.forEach((off) => off());
  }
}
