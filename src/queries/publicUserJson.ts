/**
 * SQL building the public user (PublicUser of src/commands/answers.ts: never the email) of the
 * rm_users row `alias` as one JSON value, keys in the contract's order.
 */
export const publicUserJson = (alias: string) =>
  `json_build_object('uuid', ${alias}.uuid, 'username', ${alias}.username, 'description', ${alias}.description, 'photo', ${alias}.photo, 'is_active', ${alias}.is_active, 'date_joined', ${alias}.date_joined)`;
