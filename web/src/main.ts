import { ApiError, createApi } from './api.ts';
import { authView } from './authView.ts';
import { ChatView } from './chatView.ts';
import { h, showError } from './dom.ts';
import { Live } from './live.ts';
import { session } from './session.ts';
import { Sidebar } from './sidebar.ts';
import type { ChatDetail, User } from './types.ts';

const root = document.getElementById('app')!;
const api = createApi(session.token);

/** Logged out: the forms; logged in: the sidebar, the open chat and the live connection. */
async function start(): Promise<void> {
  if (!session.token()) return showAuth();
  try {
    showSignedIn(await api.currentUser());
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.clear();
      return showAuth();
    }
    root.replaceChildren(h('p', { class: 'error', role: 'alert' }, (error as Error).message));
  }
}

function showAuth(): void {
  root.replaceChildren(
    authView(api, (key) => {
      session.save(key);
      void start();
    }),
  );
}

function showSignedIn(me: User): void {
  let view: ChatView | null = null;
  let wasOffline = false;
  const main = h('main', { class: 'chat-pane' }, h('p', { class: 'placeholder' }, 'Pick a chat, or find someone to invite.'));
  const error = h('p', { class: 'error', role: 'alert' });

  const live = new Live(session.token()!, {
    new_message({ chat, message }) {
      const open = view?.chat === chat;
      if (open) view!.messageArrived(message);
      sidebar.messagePosted(chat, message.content, message.time_stamp, !open && message.author_id !== me.uuid);
    },
    message_edited: ({ chat, message }) => view?.chat === chat && view.messageChanged(message),
    message_deleted: ({ chat, message }) => view?.chat === chat && view.messageChanged(message),
    chat_updated({ chat }) {
      // the open chat's count is the reader's own marks racing this push: keep it at zero
      sidebar.upsertChat(view?.chat === chat.uuid ? { ...chat, unread_count: 0 } : chat);
      if (view?.chat === chat.uuid) void view.updated(chat);
    },
    invitation: ({ invitation }) => sidebar.invitationArrived(invitation),
    typing: ({ chat, user }) => view?.chat === chat && view.typing(user),
    status(status) {
      sidebar.setStatus(status);
      if (status === 'unauthorized') return logout();
      // resume replays what the socket missed once it heard a push; before that, ask again
      if (status === 'online' && wasOffline) {
        void sidebar.load().catch((problem: unknown) => showError(error, problem));
        if (view) void open(view.chat);
      }
      wasOffline = status !== 'online';
    },
  });

  async function open(chat: string, detail?: ChatDetail): Promise<void> {
    showError(error, null);
    try {
      const next = new ChatView(
        { api, live, me, onRead: (id, unread) => sidebar.setUnread(id, unread), onLeft: (id) => closeChat(id) },
        detail ?? (await api.chat(chat)),
      );
      view = next;
      sidebar.setActive(chat);
      sidebar.setUnread(chat, 0);
      main.replaceChildren(next.element);
      await next.start();
    } catch (problem) {
      showError(error, problem);
    }
  }

  function closeChat(chat: string): void {
    sidebar.removeChat(chat);
    if (view?.chat !== chat) return;
    view = null;
    sidebar.setActive(null);
    main.replaceChildren(h('p', { class: 'placeholder' }, 'You left the chat.'));
  }

  function logout(): void {
    live.close();
    void api.logout().catch(() => {});
    session.clear();
    showAuth();
  }

  const sidebar = new Sidebar({ api, me, open: (chat, detail) => void open(chat, detail), logout });
  root.replaceChildren(h('div', { class: 'layout' }, sidebar.element, h('div', { class: 'pane' }, error, main)));
  void sidebar.load().catch((problem: unknown) => showError(error, problem));
}

void start();
