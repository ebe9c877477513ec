import type { Api } from './api.ts';
import { field, fill, h, showError } from './dom.ts';
import type { ChatDetail, ChatItem, FoundUser, Invitation, User } from './types.ts';

export interface SidebarDeps {
  api: Api;
  me: User;
  open(chat: string, detail?: ChatDetail): void;
  logout(): void;
}

/**
 * The left column: who is logged in, user search with invitations to send, invitations received,
 * and the chat list by last activity with unread counts.
 */
export class Sidebar {
  readonly element: HTMLElement;
  private readonly chats = new Map<string, ChatItem>();
  private readonly invitations = new Map<string, Invitation>();
  private readonly chatList = h('ul', { class: 'chat-list', 'aria-label': 'Chats' });
  private readonly invitationList = h('ul', { class: 'invitations', 'aria-label': 'Invitations' });
  private readonly results = h('ul', { class: 'results', 'aria-label': 'Search results' });
  private readonly error = h('p', { class: 'error', role: 'alert' });
  private readonly status = h('span', { class: 'status offline' }, 'connecting');
  private active: string | null = null;

  constructor(private readonly deps: SidebarDeps) {
    this.element = h(
      'aside',
      { class: 'sidebar' },
      h('div', { class: 'me' }, h('strong', {}, deps.me.username), this.status, h('button', { type: 'button', class: 'logout', onClick: () => deps.logout() }, 'Log out')),
      h(
        'form',
        { class: 'search', role: 'search', onSubmit: (event: SubmitEvent) => void this.search(event) },
        h('input', { name: 'phrase', type: 'search', placeholder: 'Find users', 'aria-label': 'Find users' }),
        h('button', { type: 'submit' }, 'Search'),
      ),
      this.results,
      h('h3', {}, 'Invitations'),
      this.invitationList,
      h('h3', {}, 'Chats'),
      h(
        'form',
        { class: 'new-group', onSubmit: (event: SubmitEvent) => void this.createGroup(event) },
        h('input', { name: 'name', placeholder: 'Group name', 'aria-label': 'Group name' }),
        h('button', { type: 'submit' }, 'New group'),
      ),
      this.chatList,
      this.error,
    );
  }

  async load(): Promise<void> {
    const [chats, invitations] = await Promise.all([this.deps.api.chats(), this.deps.api.invitations()]);
    this.chats.clear();
    for (const chat of chats.results) this.chats.set(chat.uuid, chat);
    this.invitations.clear();
    for (const invitation of invitations.results) this.invitations.set(invitation.id, invitation);
    this.renderChats();
    this.renderInvitations();
  }

  setStatus(status: 'online' | 'offline' | 'unauthorized'): void {
    this.status.textContent = status;
    this.status.className = `status ${status}`;
  }

  setActive(chat: string | null): void {
    this.active = chat;
    this.renderChats();
  }

  hasChat(chat: string): boolean {
    return this.chats.has(chat);
  }

  upsertChat(item: ChatItem): void {
    this.chats.set(item.uuid, item);
    this.renderChats();
  }

  removeChat(chat: string): void {
    this.chats.delete(chat);
    this.renderChats();
  }

  /** a new message: the chat moves up, and counts as unread unless it is open or ours */
  messagePosted(chat: string, content: string, at: string, unread: boolean): void {
    const item = this.chats.get(chat);
    if (!item) return;
    this.upsertChat({ ...item, lastmessage: content, last_activity_date: at, unread_count: item.unread_count + (unread ? 1 : 0) });
  }

  setUnread(chat: string, unread: number): void {
    const item = this.chats.get(chat);
    if (item) this.upsertChat({ ...item, unread_count: unread });
  }

  invitationArrived(invitation: Invitation): void {
    if (invitation.to.uuid !== this.deps.me.uuid) return;
    this.invitations.set(invitation.id, invitation);
    this.renderInvitations();
  }

  private async search(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    showError(this.error, null);
    try {
      const found = await this.deps.api.searchUsers(field(event.currentTarget as HTMLFormElement, 'phrase'));
      const others = found.results.filter((user) => user.uuid !== this.deps.me.uuid);
      fill(this.results, ...(others.length ? others.map((user) => this.resultRow(user)) : [h('li', { class: 'empty' }, 'Nobody by that name.')]));
    } catch (error) {
      showError(this.error, error);
    }
  }

  private resultRow(user: FoundUser): HTMLLIElement {
    const row = h('li', { class: 'result', 'data-user': user.uuid }, h('span', { class: 'name' }, user.username));
    if (user.is_friend_of_current_user) {
      row.append(h('span', { class: 'tag' }, 'friend'));
      return row;
    }
    const invite = h('button', { type: 'button', class: 'invite' }, 'Invite');
    invite.addEventListener('click', async () => {
      showError(this.error, null);
      try {
        await this.deps.api.invite(user.uuid);
        invite.replaceWith(h('span', { class: 'tag' }, 'invited'));
      } catch (error) {
        showError(this.error, error);
      }
    });
    row.append(invite);
    return row;
  }

  private async answer(invitation: Invitation, decision: boolean): Promise<void> {
    showError(this.error, null);
    try {
      const { chat } = await this.deps.api.answerInvitation(invitation.id, decision);
      this.invitations.delete(invitation.id);
      this.renderInvitations();
      if (chat) {
        this.upsertChat(chat);
        this.deps.open(chat.uuid, chat);
      }
    } catch (error) {
      showError(this.error, error);
    }
  }

  private async createGroup(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    showError(this.error, null);
    try {
      const { chat } = await this.deps.api.createGroup(field(form, 'name'));
      form.reset();
      this.upsertChat(chat);
      this.deps.open(chat.uuid, chat);
    } catch (error) {
      showError(this.error, error);
    }
  }

  private renderInvitations(): void {
    const rows = [...this.invitations.values()].map((invitation) =>
      h(
        'li',
        { class: 'invitation', 'data-invitation': invitation.id },
        h('span', { class: 'name' }, invitation.from.username),
        h('button', { type: 'button', class: 'accept', onClick: () => void this.answer(invitation, true) }, 'Accept'),
        h('button', { type: 'button', class: 'decline', onClick: () => void this.answer(invitation, false) }, 'Decline'),
      ),
    );
    fill(this.invitationList, ...(rows.length ? rows : [h('li', { class: 'empty' }, 'None waiting.')]));
  }

  private renderChats(): void {
    const items = [...this.chats.values()].sort((a, b) => b.last_activity_date.localeCompare(a.last_activity_date));
    const rows = items.map((chat) =>
      h(
        'li',
        {},
        h(
          'button',
          { type: 'button', class: `chat-link${chat.uuid === this.active ? ' active' : ''}`, 'data-chat': chat.uuid, onClick: () => this.deps.open(chat.uuid) },
          h('span', { class: 'name' }, chat.is_group_chat ? `# ${chat.name}` : chat.name),
          chat.unread_count > 0 ? h('span', { class: 'unread', 'aria-label': `${chat.unread_count} unread` }, chat.unread_count) : null,
          h('span', { class: 'last' }, chat.lastmessage ?? 'No messages yet'),
        ),
      ),
    );
    fill(this.chatList, ...(rows.length ? rows : [h('li', { class: 'empty' }, 'No chats yet: invite someone.')]));
  }
}
