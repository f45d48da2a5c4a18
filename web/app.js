//! The client's shell: login, the connection, the header (language, banner), and which screen
//! shows: the student's or the teacher's home, or a session.

import { h, replace } from './dom.js';
import { currentLang, setLang, setSubjectNames, t } from './i18n.js';
import { setSchoolZone } from './locale.js';
import { createNotifier } from './notify.js';
import { Connection } from './ws.js';
import { currentSchool, listSchools, rememberSchool, schoolFromPath, schoolQuery } from './school.js';
import { createStudentHome } from './student.js';
import { createTeacherHome } from './teacher.js';
import { SessionView } from './session.js';

const TOKEN_KEY = 'konsult.token';
/// The student's own token while the tab runs as their anonymous identity.
const OWN_TOKEN_KEY = 'konsult.token.own';
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const politeAnnouncer = document.getElementById('announce-polite');
const urgentAnnouncer = document.getElementById('announce-urgent');
const headerUser = document.getElementById('header-user');
const langButton = document.getElementById('lang');
const logoutButton = document.getElementById('logout');
const flash = document.getElementById('flash');

/// What every screen shares: the connection, the user, names of people met so far.
const app = {
  conn: null,
  user: null,
  token: null,
  users: new Map(),
  home: null,
  session: null,
  /// Remembers people's names for chat and rosters.
  learn(user) {
    if (user && user.id !== undefined && user.name) app.users.set(user.id, user);
  },
  nameOf(id) {
    if (id === app.user?.id) return t('chat.me');
    return app.users.get(id)?.name ?? `#${id}`;
  },
  /// Says `text` to screen readers (`urgent` interrupts).
  announce(text, urgent = false) {
    const el = urgent ? urgentAnnouncer : politeAnnouncer;
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
  },
  /// Shows an error from a failed request where the user acted.
  errorText(err) {
    return t('error.generic', { msg: err?.message ?? String(err) });
  },
  /// Opens the session view, or refreshes it when it is the one already open.
  enterSession(session) {
    (session.members ?? []).forEach(app.learn);
    if (app.session && app.session.id === session.id) {
      app.session.update(session);
      return;
    }
    if (app.session) app.session.close();
    flash.textContent = '';
    app.session = new SessionView(app, session, (message) => {
      app.session = null;
      flash.textContent = message;
      showHome();
    });
    replace(main, app.session.el);
    app.session.start();
  },
  /// Brings the home screen forward (a notification was clicked), unless a session is open.
  toHome() {
    if (app.session || !app.home) return false;
    if (!app.home.el.isConnected) showHome();
    return true;
  },
  /// Opens a thread of the inbox on the home screen.
  openThread(id) {
    if (!app.toHome()) return;
    app.home.openThread(id);
    main.querySelector('.inbox')?.scrollIntoView({ block: 'start' });
  },
  /// Puts the keyboard on an offer's "accept".
  showOffer(id) {
    if (app.toHome()) main.querySelector(`.offer[data-request="${id}"] .offer-accept`)?.focus();
  },
  /// Shows the student's place in the queue.
  showRequest() {
    if (app.toHome()) main.querySelector('.queue-status')?.scrollIntoView({ block: 'start' });
  },
  /// Shows the student's invitations.
  showInvites() {
    if (app.toHome()) main.querySelector('.invites button')?.focus();
  },
  /// Shows the bookings: the student's own, or the staff member's of the day.
  showBookings() {
    if (app.toHome()) app.home.showBookings?.();
  },
  /// The student's own token while this tab runs as their anonymous identity.
  ownToken() {
    return sessionStorage.getItem(OWN_TOKEN_KEY);
  },
  /// Runs this tab as the student's anonymous identity for the support service
  /// (`POST /api/anonymous`), keeping their own token to come back and to reveal who they are.
  async enterAnonymous(showClass) {
    const res = await fetch('/api/anonymous', {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ show_class: showClass }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(body.message ?? String(res.status));
      err.code = body.code;
      throw err;
    }
    sessionStorage.setItem(OWN_TOKEN_KEY, app.token);
    sessionStorage.setItem(TOKEN_KEY, body.token);
    stopApp();
    await start(body.token);
  },
  /// Back to the student's own account, with `message` on its screen.
  async leaveAnonymous(message = '') {
    const own = app.ownToken();
    sessionStorage.removeItem(OWN_TOKEN_KEY);
    if (!own) {
      logout(message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, own);
    stopApp();
    flash.textContent = message;
    await start(own).catch(() => logout());
  },
};
app.notifier = createNotifier(app);

function showHome() {
  if (app.home) {
    replace(main, app.home.el);
    app.home.refresh?.();
  }
}

function renderHeader() {
  app.notifier.setTitle(t('app.title'));
  langButton.textContent = t('lang.switch');
  langButton.setAttribute('aria-label', t('lang.switch.label'));
  logoutButton.textContent = app.user?.anonymous ? t('anon.leave') : t('logout');
  logoutButton.hidden = !app.user;
  document.getElementById('help-link').textContent = t('help.link');
  const school = schoolFromPath();
  const help = school ? `/s/${school}/help` : '/help';
  document.getElementById('help-link').href = currentLang() === 'en' ? `${help}?lang=en` : help;
  replace(headerUser, app.user ? `${app.user.name} (${t('role.' + app.user.role)})` : '');
}

/// The school field of the login form: a select when the server has several schools and the
/// address names none (the last choice preselected), else nothing to ask.
async function schoolField() {
  if (schoolFromPath()) return null;
  const schools = await listSchools();
  if (schools.length < 2) return null;
  const remembered = currentSchool();
  const select = h('select', { id: 'login-school', name: 'school', required: true },
    h('option', { value: '' }, t('login.school.choose')),
    ...schools.map((s) => h('option', { value: s.code, selected: s.code === remembered }, s.name)));
  return select;
}

async function renderLogin(message = '') {
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message);
  const school = await schoolField();
  const login = h('input', { id: 'login-name', name: 'login', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'card login', 'aria-labelledby': 'login-heading' },
    h('h2', { id: 'login-heading' }, t('login.heading')),
    ...(school ? [h('label', { for: 'login-school' }, t('login.school')), school] : []),
    h('label', { for: 'login-name' }, t('login.login')), login,
    h('label', { for: 'login-password' }, t('login.password')), password,
    h('button', { type: 'submit', class: 'primary' }, t('login.submit')),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      const code = school ? school.value : currentSchool();
      const credentials = { login: login.value.trim(), password: password.value };
      if (code) credentials.school = code;
      const res = await fetch('/api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(credentials),
      });
      if (res.status === 401) throw new Error(t('login.failed'));
      if (res.status === 429) throw new Error(t('login.limited'));
      const body = await res.json();
      if (!res.ok) throw new Error(t('login.error', { msg: body.message ?? res.status }));
      sessionStorage.setItem(TOKEN_KEY, body.token);
      rememberSchool(code);
      await start(body.token);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  replace(main, form);
  (school && !school.value ? school : login).focus();
}

function setBanner(state) {
  if (state === 'reconnecting') {
    banner.textContent = t('conn.reconnecting');
    banner.hidden = false;
  } else if (state === 'open' && !banner.hidden) {
    banner.hidden = true;
    app.announce(t('conn.restored'));
  }
}

/// The subject names the school set, from the public `GET /api/help`: every active helper's
/// subjects with their names, which is what a student or teacher meets (an old thread's subject
/// that nobody teaches now takes the built-in name). A page takes them when it starts, so a
/// rename shows from the next sign-in or reload; if they cannot be had, the built-in names serve.
/// The same answer names the school's time zone, in which every date and time is shown.
async function loadSubjectNames() {
  try {
    const res = await fetch(`/api/help${schoolQuery()}`);
    if (!res.ok) return;
    const help = await res.json();
    setSubjectNames(help.staff.flatMap((person) => person.subjects));
    setSchoolZone(help.timezone);
  } catch {
    // No names from the server: subjectName falls back to the built-in ones.
  }
}

async function start(token) {
  app.token = token;
  app.conn = new Connection(token, {
    onState: setBanner,
    // An anonymous identity closed by the support service (4011) sends the student back to
    // their own account.
    onFatal: () => (app.ownToken() ? app.leaveAnonymous(t('anon.closed')) : logout(t('conn.fatal'))),
  });
  const [welcome] = await Promise.all([app.conn.start(), loadSubjectNames()]);
  app.user = welcome.user;
  app.learn(app.user);
  app.conn.on('session_started', (m) => app.enterSession(m.session));
  app.conn.on('session_ended', (m) => app.session?.ended(m));
  app.notifier.watch(app.conn);
  app.home = app.user.role === 'student' ? createStudentHome(app) : createTeacherHome(app);
  renderHeader();
  showHome();
}

/// Stops the connection and the screens, keeping the tokens.
function stopApp() {
  app.session?.close();
  app.session = null;
  app.conn?.stop();
  app.conn = null;
  app.user = null;
  app.home?.stop?.();
  app.home = null;
  app.users.clear();
  app.notifier.reset();
}

function logout(message = '') {
  stopApp();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OWN_TOKEN_KEY);
  banner.hidden = true;
  renderHeader();
  renderLogin(message);
}

langButton.addEventListener('click', () => {
  setLang(currentLang() === 'ru' ? 'en' : 'ru');
  renderHeader();
  if (!app.user) {
    renderLogin();
    return;
  }
  app.home?.rerender();
  app.session?.rerender();
  if (!app.session) showHome();
});
logoutButton.addEventListener('click', () => {
  revoke(app.token);
  if (app.user?.anonymous) {
    app.leaveAnonymous();
    return;
  }
  logout();
});

/// Ends the token on the server (`POST /api/logout`), so that a copy of it stops working.
function revoke(token) {
  if (!token) return;
  fetch('/api/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` }, keepalive: true })
    .catch(() => {});
}

/// Diagnostics for the connection indicator and the browser tests: decoded video frames.
window.konsult = {
  /// The video stage: the large tile, the speaker, the pinned tile, microphone levels.
  stage: () => app.session?.stage?.describe() ?? null,
  framesDecoded: () => (app.session ? app.session.framesDecoded() : Promise.resolve(0)),
  videoInbound: () => (app.session ? app.session.videoInbound() : Promise.resolve([])),
  peer: () => {
    const pc = app.session?.link?.pc;
    return pc && {
      path: app.session.linkPath,
      connection: pc.connectionState,
      signaling: pc.signalingState,
      ice: pc.iceConnectionState,
      gathering: pc.iceGatheringState,
      candidates: app.session.link.candidates,
      received: app.session.link.received ?? 0,
      transceivers: pc.getTransceivers().map((x) => [x.mid, x.direction, x.currentDirection, x.sender.track?.kind ?? null]),
      // What the hub last said of the session's path and each member's media.
      media: app.session.state?.media,
      members: app.session.state?.members,
    };
  },
};

setLang(currentLang());
renderHeader();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  start(saved).catch(() => logout());
} else {
  renderLogin();
}
