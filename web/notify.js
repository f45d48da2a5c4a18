//! System notifications and the tab's title. While the tab is hidden, a teacher hears of an
//! offer and of a message in their inbox, a student of their turn (a teacher accepted the
//! request, or it reached the head of the queue), an invitation (a booked slot's session invites
//! both sides), the answer to a deferred question, and a booking the other side made, moved or
//! cancelled (with the teacher's reason), through the Notification API; clicking one brings the
//! tab forward and opens what it is about. Permission is asked only when someone acts: a teacher
//! first switching to "available", a student on their first help request; never on page load.
//! The tab's title counts the threads with unread messages: "(3) Konsult: консультации".

import { languageTag, subjectName, t } from './i18n.js';
import { threadTitle } from './chat.js';
import { formatWhen } from './locale.js';

/// A message's text in a notification is cut to this many characters.
const BODY_CHARS = 140;

export function createNotifier(app) {
  let baseTitle = document.title;
  let unreadThreads = 0;
  let asked = false;
  /// The notifications on screen by tag, closed when their matter is over or the tab shows.
  const shown = new Map();
  /// The inbox's threads by id, for a message's title when its sender's name is not known.
  let threads = new Map();

  const supported = () => typeof window.Notification === 'function';
  const hidden = () => document.visibilityState === 'hidden';

  function renderTitle() {
    document.title = unreadThreads > 0 ? `(${unreadThreads}) ${baseTitle}` : baseTitle;
  }

  /// Asks for permission, once, and only when the browser has not been answered yet. Called
  /// from a click or a submit, where browsers let a page ask.
  function ask() {
    if (asked || !supported() || Notification.permission !== 'default') return;
    asked = true;
    try {
      Promise.resolve(Notification.requestPermission()).catch(() => {});
    } catch {
      // An old browser with the callback form only: no notifications there.
    }
  }

  /// Shows a notification when the tab is hidden and permission was given; `open` runs on a
  /// click, after the tab is brought forward.
  function show({ tag, title, body, open }) {
    if (!supported() || Notification.permission !== 'granted' || !hidden()) return;
    let notification;
    try {
      notification = new Notification(title, { body, tag, lang: languageTag() });
    } catch {
      // Chrome on Android shows notifications from a service worker only; the page does without.
      return;
    }
    shown.get(tag)?.close();
    shown.set(tag, notification);
    notification.onclick = () => {
      window.focus();
      notification.close();
      open?.();
    };
    notification.onclose = () => {
      if (shown.get(tag) === notification) shown.delete(tag);
    };
  }

  function close(tag) {
    shown.get(tag)?.close();
    shown.delete(tag);
  }

  document.addEventListener('visibilitychange', () => {
    if (hidden()) return;
    for (const notification of shown.values()) notification.close();
    shown.clear();
  });

  function messageBody(message) {
    const text = message.text?.trim() || (message.attachments ?? []).map((a) => a.name).join(', ');
    return text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text;
  }

  /// Subscribes to a new connection's pushes (each sign-in makes one).
  function watch(conn) {
    const student = () => app.user?.role === 'student';
    /// The student's open request and its place, to tell a turn from other news.
    let waiting = null;

    conn.on('help_offer', ({ request }) => show({
      tag: `offer-${request.id}`,
      title: t('notify.offer', { student: request.student.name }),
      body: `${subjectName(request.subject)}, ${t('form.' + request.form)}, ${t('mode.' + request.mode)}: ${request.topic}`,
      open: () => app.showOffer(request.id),
    }));
    conn.on('offer_withdrawn', (m) => close(`offer-${m.request}`));
    conn.on('message', ({ message }) => {
      if (message.from === app.user?.id) return;
      const sender = app.users.get(message.from)?.name;
      const thread = threads.get(message.thread);
      show({
        tag: `thread-${message.thread}`,
        title: sender ? t('notify.message', { name: sender })
          : thread ? t('notify.message.thread', { thread: threadTitle(thread) }) : t('notify.message.new'),
        body: messageBody(message),
        open: () => app.openThread(message.thread),
      });
    });
    conn.on('request_answered', (m) => {
      if (!student()) return;
      show({
        tag: `thread-${m.thread}`,
        title: t('notify.answered'),
        body: m.by?.name ?? '',
        open: () => app.openThread(m.thread),
      });
    });

    const queued = ({ request }) => {
      const before = waiting?.id === request.id ? waiting.position : null;
      waiting = { id: request.id, position: request.position };
      if (before !== null && before > 1 && request.position === 1) {
        show({ tag: `request-${request.id}`, title: t('notify.first'), body: subjectName(request.subject), open: () => app.showRequest() });
      }
    };
    conn.on('request_queued', queued);
    conn.on('queue_position', queued);
    // A teacher is being offered the request now: the student's turn is about to come.
    conn.on('request_offered', ({ request }) => {
      if (!student()) return;
      show({ tag: `request-${request}`, title: t('notify.offered'), body: '', open: () => app.showRequest() });
    });
    for (const type of ['request_cancelled', 'request_deferred']) conn.on(type, () => { waiting = null; });
    conn.on('session_started', ({ session }) => {
      if (!student() || !waiting) return;
      close(`request-${waiting.id}`);
      waiting = null;
      const host = session.members?.find((m) => m.id === session.host)?.name ?? '';
      show({ tag: `session-${session.id}`, title: t('notify.accepted'), body: host, open: () => {} });
    });
    conn.on('session_invite', (m) => {
      show({
        tag: `session-${m.session.id}`,
        title: t('invite.text', { from: m.from?.name ?? '', title: m.session.title }),
        body: '',
        open: () => app.showInvites(),
      });
    });
    // A booking the other side made, moved or cancelled; what the user did on another device
    // is no news.
    conn.on('booking_changed', ({ booking, change }) => {
      const me = app.user?.id;
      const byOther = change === 'cancelled' ? booking.cancelled_by !== me : booking.student.id !== me;
      if (!byOther) return;
      const staffSide = booking.student.id !== me;
      const params = { name: staffSide ? booking.student.name : booking.teacher.name, student: booking.student.name, when: formatWhen(booking) };
      show({
        tag: `booking-${booking.id}`,
        title: staffSide ? t('day.change.' + change, params) : t('notify.booking_cancelled', params),
        body: staffSide ? booking.topic : (booking.reason ?? ''),
        open: () => app.showBookings(),
      });
    });
  }

  return {
    ask,
    watch,
    /// The tab's title without the count, in the page's language.
    setTitle(text) {
      baseTitle = text;
      renderTitle();
    },
    /// The inbox's threads changed: the title counts those with unread messages.
    threadsChanged(list) {
      threads = new Map([...list].map((th) => [th.id, th]));
      unreadThreads = [...threads.values()].filter((th) => th.unread > 0).length;
      renderTitle();
    },
    /// Sign-out: nothing unread, nothing on screen.
    reset() {
      unreadThreads = 0;
      threads = new Map();
      asked = false;
      for (const notification of shown.values()) notification.close();
      shown.clear();
      renderTitle();
    },
  };
}
