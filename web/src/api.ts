import type { ChatDetail, ChatItem, FoundUser, Invitation, Message, Page, User } from './types.ts';

/** A refusal from the server, its message as the server worded it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface ErrorBody {
  detail?: string;
  code?: string;
  fields?: Record<string, string[]>;
}

/** "Invalid input." alone says little: the field messages follow it. */
export function errorText(body: ErrorBody | undefined, status: number): string {
  const detail = body?.detail ?? `The server answered ${status}.`;
  const fields = Object.entries(body?.fields ?? {}).map(([field, problems]) => `${field}: ${problems.join(' ')}`);
  return fields.length ? `${detail} ${fields.join('; ')}` : detail;
}

type Positioned<T> = T & { position: string | null };

/** The REST contract's calls, authenticated with the session's token. */
export function createApi(token: () => string | null) {
  // read-your-writes: queries wait until the read models include this client's last command
  let lastPosition = 0n;

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    const key = token();
    if (key) headers.authorization = `Token ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method === 'GET' && lastPosition > 0n) headers['x-min-position'] = String(lastPosition);
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = parsed as ErrorBody | undefined;
      throw new ApiError(response.status, error?.code ?? 'error', errorText(error, response.status));
    }
    const position = (parsed as { position?: unknown } | undefined)?.position;
    if (typeof position === 'string' && BigInt(position) > lastPosition) lastPosition = BigInt(position);
    return parsed as T;
  }

  const id = encodeURIComponent;
  return {
    register: (fields: { email: string; password1: string; password2: string; username?: string }) =>
      call<{ key: string; user: User }>('POST', '/api/rest-auth/registration/', fields),
    login: (email: string, password: string) => call<{ key: string }>('POST', '/api/rest-auth/login/', { email, password }),
    logout: () => call<unknown>('POST', '/api/rest-auth/logout/', {}),
    currentUser: () => call<User>('GET', '/api/user/currentuser/'),

    searchUsers: (phrase: string) => call<Page<FoundUser>>('GET', `/api/user/search/${id(phrase)}/?limit=20`),
    friends: () => call<Page<User>>('GET', '/api/user/friends/?limit=100'),
    invite: (user: string) => call<Positioned<Invitation>>('POST', '/api/user/friends/', { user_uuid: user }),
    invitations: () => call<Page<Invitation>>('GET', '/api/user/invitations/?limit=100'),
    answerInvitation: (invitation: string, decision: boolean) =>
      call<Positioned<{ chat?: ChatDetail }>>('POST', '/api/user/invitations/', { invitation_id: invitation, decision }),

    chats: () => call<Page<ChatItem>>('GET', '/api/chat/mychats/?limit=100'),
    chat: (chat: string) => call<ChatDetail>('GET', `/api/chat/${id(chat)}/`),
    createGroup: (name: string) => call<Positioned<{ chat: ChatDetail }>>('POST', '/api/chat/mychats/groups/', { name }),
    addParticipant: (chat: string, user: string) => call<Positioned<{ chat: ChatDetail }>>('POST', `/api/chat/${id(chat)}/`, { user_uuid: user }),
    leave: (chat: string, user: string) => call<Positioned<object>>('DELETE', `/api/chat/${id(chat)}/participants/${id(user)}/`),
    editMessage: (chat: string, message: number, content: string) =>
      call<Positioned<{ message: Message }>>('PATCH', `/api/chat/${id(chat)}/messages/${message}/`, { message: content }),
    deleteMessage: (chat: string, message: number) => call<Positioned<{ message: Message }>>('DELETE', `/api/chat/${id(chat)}/messages/${message}/`),
    markRead: (chat: string, message: number) => call<Positioned<{ unread_count: number }>>('POST', `/api/chat/${id(chat)}/read/`, { message_id: message }),
  };
}

export type Api = ReturnType<typeof createApi>;
