"""The host app's own users: who is logged in after a ClassLink or LTI sign-in, and the
roster account behind whoever is signed in.

Without hooks the plugin logs in its own :class:`~al_roster.models.Account`. A host app with
its own ``User`` passes two callables to ``ALRoster(app, ...)``:

- ``user_for_account(account) -> user``: called after every successful ClassLink SSO or LTI
  sign-in (and the demo sign-in) with the Account; returns the host's user to log in (created
  or linked there), or None to refuse the sign-in;
- ``account_for_user(user) -> Account | None``: the Account a host user is linked to. Without
  it, a host user's ``roster_account_id`` attribute names the Account's id.

Every roster decision (which classes a teacher may import, whose roster they see, who may use
a district's console) is made for the linked Account; a host user with none is treated as a
person outside the roster. The host's ``is_staff`` hook is still called with the host's user.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..models import Account, District

#: The host's ``user_for_account`` hook.
UserForAccount = Callable[[Account], object]
#: The host's ``account_for_user`` hook.
AccountForUser = Callable[[object], "Account | None"]


@dataclass(frozen=True)
class HostUsers:
    user_for_account: UserForAccount | None = None
    account_for_user: AccountForUser | None = None

    def user_for(self, account: Account):
        """What to log in for a signed-in Account: the host's user, or the Account itself."""
        if self.user_for_account is None:
            return account
        return self.user_for_account(account)

    def account_of(self, user) -> Account | None:
        """The roster Account behind ``user`` (an Account, or a host user linked to one)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        if isinstance(user, Account):
            return user
        if self.account_for_user is not None:
            account = self.account_for_user(user)
        else:
            account_id = getattr(user, "roster_account_id", None)
            account = _account(account_id) if isinstance(account_id, int) else None
        return account if isinstance(account, Account) else None


def _account(account_id: int) -> Account | None:
    return (Account.select(Account, District).join(District)
            .where(Account.id == account_id).first())
