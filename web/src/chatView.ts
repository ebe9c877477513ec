import type { Api } from './api.ts';
import { field, fill, h, showError } from './dom.ts';
import type { Live } from './live.ts';
import type { ChatDetail, ChatItem, Message, User } from './types.ts';

export interface ChatViewDeps {
  api: Api;
  live: Live;
  me: User;
  /** the server's unread count for this chat after a read mark */
  onRead(chat: string, unread: number): void;
  onLeft(chat: string): void;
}

const TYPING_SENT_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 3000;

const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/**
 * One open chat: its newest page first, older 15-message pages on demand, live messages, edits
 * and deletions, typing signals, and the composer. Messages are keyed by id, so a message both
 * acknowledged and pushed shows once.
 */
export class ChatView {
  readonly element: HTMLElement;
  private readonly rows = new Map<number, HTMLLIElement>();
  private readonly list = h('ol', { class: 'messages', 'aria-label': 'Messages' });
  private readonly older = h('button', { type: 'button', class: 'older', onClick: () => void this.loadOlder() }, 'Older messages');
  private readonly typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  private readonly error = h('p', { class: 'error', role: 'alert' });
  private readonly header = h('header', { class: 'chat-header' });
  private readonly typers = new Map<string, ReturnType<typeof setTimeout>>();
  private cursor = '0';
  private lastTypingSent = 0;
  private readMark = 0;

  constructor(
    private readonly deps: ChatViewDeps,
    private detail: ChatDetail,
  ) {
    const composer = h(
      'form',
      { class: 'composer', onSubmit: (event: SubmitEvent) => void this.send(event) },
      h('textarea', { name: 'message', rows: 2, placeholder: 'Write a message', 'aria-label': 'Message', onInput: () => this.signalTyping(), onKeydown: sendOnEnter }),
      h('button', { type: 'submit' }, 'Send'),
    );
    this.element = h('section', { class: 'chat', 'data-chat': detail.uuid }, this.header, this.older, this.list, this.typingLine, composer, this.error);
    this.renderHeader();
  }

  get chat(): string {
    return this.detail.uuid;
  }

  async start(): Promise<void> {
    await this.loadOlder();
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** a posted message, pushed or acknowledged */
  messageArrived(message: Message): void {
    // older than the pages loaded so far: paging back brings it, in its place
    if (!this.older.hidden && this.rows.size > 0 && message.id < Math.min(...this.rows.keys())) return;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.place(message);
    this.stopTyping(message.author_id);
    if (atBottom || message.author_id === this.deps.me.uuid) this.list.scrollTop = this.list.scrollHeight;
    if (message.author_id !== this.deps.me.uuid) void this.markRead(message.id);
  }

  /** an edit or a deletion; only a message already shown needs redrawing */
  messageChanged(message: Message): void {
    if (this.rows.has(message.id)) this.place(message);
  }

  typing(user: string): void {
    if (user === this.deps.me.uuid) return;
    clearTimeout(this.typers.get(user));
    this.typers.set(user, setTimeout(() => this.stopTyping(user), TYPING_SHOWN_MS));
    this.renderTyping();
  }

  /** name or membership changed: the detail is asked again for the participants */
  async updated(item: ChatItem): Promise<void> {
    this.detail = { ...this.detail, ...item };
    this.renderHeader();
    try {
      this.detail = await this.deps.api.chat(this.chat);
      this.renderHeader();
    } catch {
      // no longer a participant: the chat list says so
    }
  }

  private async loadOlder(): Promise<void> {
    showError(this.error, null);
    this.older.disabled = true;
    try {
      const before = this.list.scrollHeight - this.list.scrollTop;
      const page = await this.deps.live.fetchMessages(this.chat, this.cursor);
      for (const message of page.messages) this.place(message);
      if (page.messages.length) this.cursor = page.last_message_time_stamp;
      // keep the reader where they were while older messages appear above
      this.list.scrollTop = this.list.scrollHeight - before;
      this.older.hidden = page.error !== undefined;
      const newest = Math.max(0, ...page.messages.map((message) => message.id));
      if (newest > 0) void this.markRead(newest);
    } catch (error) {
      showError(this.error, error);
    } finally {
      this.older.disabled = false;
    }
  }

  private async send(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const textarea = form.elements.namedItem('message') as HTMLTextAreaElement;
    showError(this.error, null);
    try {
      const { message } = await this.deps.live.send(this.chat, textarea.value);
      textarea.value = '';
      this.messageArrived(message);
    } catch (error) {
      showError(this.error, error);
    }
  }

  private signalTyping(): void {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SENT_EVERY_MS) return;
    this.lastTypingSent = now;
    this.deps.live.typing(this.chat);
  }

  private async markRead(id: number): Promise<void> {
    if (id <= this.readMark) return;
    this.readMark = id;
    try {
      const { unread_count } = await this.deps.api.markRead(this.chat, id);
      this.deps.onRead(this.chat, unread_count);
    } catch {
      // a read mark is a courtesy; the next message tries again
      this.readMark = 0;
    }
  }

  private place(message: Message): void {
    const row = this.row(message);
    const shown = this.rows.get(message.id);
    this.rows.set(message.id, row);
    if (shown) return shown.replaceWith(row);
    // ids grow with time within a chat: the row goes before the next larger id, if any
    const after = Math.min(...[...this.rows.keys()].filter((id) => id > message.id));
    this.list.insertBefore(row, Number.isFinite(after) ? this.rows.get(after)! : null);
  }

  private row(message: Message): HTMLLIElement {
    const mine = message.author_id === this.deps.me.uuid;
    const author = this.detail.participants.find((user) => user.uuid === message.author_id)?.username ?? 'a former participant';
    const actions =
      mine && !message.deleted
        ? h(
            'span',
            { class: 'actions' },
            h('button', { type: 'button', class: 'edit', onClick: () => this.startEdit(message) }, 'Edit'),
            h('button', { type: 'button', class: 'delete', onClick: () => void this.remove(message) }, 'Delete'),
          )
        : null;
    return h(
      'li',
      { class: `message${mine ? ' mine' : ''}${message.deleted ? ' deleted' : ''}`, 'data-id': message.id },
      h('span', { class: 'author' }, mine ? 'You' : author),
      h('time', { datetime: message.time_stamp }, time(message.time_stamp)),
      message.edited_at && !message.deleted ? h('span', { class: 'edited' }, 'edited') : null,
      actions,
      h('p', { class: 'content' }, message.deleted ? 'This message was deleted.' : message.content),
    );
  }

  private startEdit(message: Message): void {
    const row = this.rows.get(message.id);
    if (!row) return;
    const form = h(
      'form',
      {
        class: 'edit-form',
        onSubmit: async (event: SubmitEvent) => {
          event.preventDefault();
          showError(this.error, null);
          try {
            this.place((await this.deps.api.editMessage(this.chat, message.id, field(form, 'message'))).message);
          } catch (error) {
            showError(this.error, error);
          }
        },
      },
      h('input', { name: 'message', value: message.content, 'aria-label': 'Edited message' }),
      h('button', { type: 'submit' }, 'Save'),
      h('button', { type: 'button', onClick: () => this.place(message) }, 'Cancel'),
    );
    row.querySelector('.content')?.replaceWith(form);
    form.querySelector('input')?.focus();
  }

  private async remove(message: Message): Promise<void> {
    showError(this.error, null);
    try {
      this.place((await this.deps.api.deleteMessage(this.chat, message.id)).message);
    } catch (error) {
      showError(this.error, error);
    }
  }

  private stopTyping(user: string): void {
    clearTimeout(this.typers.get(user));
    if (this.typers.delete(user)) this.renderTyping();
  }

  private renderTyping(): void {
    const names = [...this.typers.keys()].map((user) => this.detail.participants.find((p) => p.uuid === user)?.username ?? 'Someone');
    this.typingLine.textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  private renderHeader(): void {
    const { detail, deps } = this;
    const others = detail.participants.filter((user) => user.uuid !== deps.me.uuid).map((user) => user.username);
    fill(
      this.header,
      h('h2', {}, detail.name),
      h('p', { class: 'participants' }, detail.is_group_chat ? `Group with ${others.join(', ') || 'nobody yet'}` : 'Private chat'),
      detail.is_group_chat ? this.groupControls() : null,
    );
  }

  private groupControls(): HTMLElement {
    const select = h('select', { name: 'friend', 'aria-label': 'Friend to add' }, h('option', { value: '' }, 'Add a friend…'));
    const controls = h(
      'form',
      {
        class: 'group-controls',
        onSubmit: async (event: SubmitEvent) => {
          event.preventDefault();
          showError(this.error, null);
          try {
            if (!select.value) return;
            this.detail = (await this.deps.api.addParticipant(this.chat, select.value)).chat;
            this.renderHeader();
          } catch (error) {
            showError(this.error, error);
          }
        },
      },
      select,
      h('button', { type: 'submit' }, 'Add'),
      h('button', { type: 'button', class: 'leave', onClick: () => void this.leave() }, 'Leave'),
    );
    void this.deps.api.friends().then(
      (friends) => {
        const inChat = new Set(this.detail.participants.map((user) => user.uuid));
        select.append(...friends.results.filter((friend) => !inChat.has(friend.uuid)).map((friend) => h('option', { value: friend.uuid }, friend.username)));
      },
      (error: unknown) => showError(this.error, error),
    );
    return controls;
  }

  private async leave(): Promise<void> {
    try {
      await this.deps.api.leave(this.chat, this.deps.me.uuid);
      this.deps.onLeft(this.chat);
    } catch (error) {
      showError(this.error, error);
    }
  }
}

/** Enter sends, Shift+Enter starts a new line. */
function sendOnEnter(event: KeyboardEvent): void {
  if (event.key !== 'Enter' || event.shiftKey) return;
  event.preventDefault();
  (event.target as HTMLTextAreaElement).form?.requestSubmit();
}
