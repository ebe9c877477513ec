import { event, type DomainEvent } from '../../events/catalog.ts';
import { refuse } from '../DomainError.ts';

export type UserEvent = DomainEvent<'UserRegistered' | 'UserProfileUpdated' | 'UserDeactivated' | 'UserRoleGranted' | 'UserRoleRevoked'>;

/** What a user may be granted beyond chatting: reading the audit endpoints, or the analytics. */
export const ROLES = ['auditor', 'analyst'] as const;
export type Role = (typeof ROLES)[number];

export type User =
  | { status: 'absent' }
  | {
      status: 'active' | 'deactivated';
      id: string;
      email: string;
      username: string;
      description: string;
      photo: string | null;
      dateJoined: string;
      roles: readonly Role[];
    };

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; username: string; now: string }
  | { type: 'UpdateProfile'; username?: string; description?: string; photo?: string | null }
  | { type: 'DeactivateUser' }
  | { type: 'GrantRole'; role: Role; grantedBy: string }
  | { type: 'RevokeRole'; role: Role; revokedBy: string };

export const initialState = (): User => ({ status: 'absent' });

export function evolve(state: User, e: UserEvent): User {
  switch (e.type) {
    case 'UserRegistered':
      return {
        status: 'active',
        id: e.data.user_id,
        email: e.data.email,
        username: e.data.username,
        description: '',
        photo: null,
        dateJoined: e.data.date_joined,
        roles: [],
      };
    case 'UserProfileUpdated':
      return state.status === 'absent' ? state : { ...state, ...definedOnly(e.data) };
    case 'UserDeactivated':
      return state.status === 'absent' ? state : { ...state, status: 'deactivated' };
    case 'UserRoleGranted':
      return state.status === 'absent' ? state : { ...state, roles: [...state.roles, e.data.role] };
    case 'UserRoleRevoked':
      return state.status === 'absent' ? state : { ...state, roles: state.roles.filter((role) => role !== e.data.role) };
  }
}

export function decide(command: UserCommand, state: User): UserEvent[] {
  if (command.type === 'RegisterUser') {
    if (state.status !== 'absent') refuse('conflict', 'user_exists', 'This user exists already.');
    return [event('UserRegistered', { user_id: command.userId, email: command.email, username: command.username, date_joined: command.now })];
  }
  if (state.status !== 'active') return refuse('not_found', 'user_not_found', 'No such active user.');
  switch (command.type) {
    case 'UpdateProfile': {
      const { type: _type, ...fields } = command;
      // only what actually changes is recorded; an update that changes nothing appends nothing
      const changed = Object.fromEntries(Object.entries(definedOnly(fields)).filter(([key, value]) => state[key as keyof typeof state] !== value));
      return Object.keys(changed).length === 0 ? [] : [event('UserProfileUpdated', changed)];
    }
    case 'DeactivateUser':
      return [event('UserDeactivated', {})];
    case 'GrantRole':
      return state.roles.includes(command.role) ? [] : [event('UserRoleGranted', { role: command.role, granted_by: command.grantedBy })];
    case 'RevokeRole':
      return state.roles.includes(command.role) ? [event('UserRoleRevoked', { role: command.role, revoked_by: command.revokedBy })] : [];
  }
}

function definedOnly<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}
