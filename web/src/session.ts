const KEY = 'chat.token';

/** The API token, kept in localStorage so a reload stays logged in. */
export const session = {
  token: (): string | null => localStorage.getItem(KEY),
  save: (token: string) => localStorage.setItem(KEY, token),
  clear: () => localStorage.removeItem(KEY),
};
