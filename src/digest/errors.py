"""The one error base. Each subclass carries what a person needs to fix the problem."""


class DigestError(Exception):
    """An error the user can act on; the CLI prints it as one line and exits 1."""


class ConfigError(DigestError):
    """A bad configuration value: the message names the file (or variable) and the key."""


class InputError(DigestError):
    """Bad input data: the message names the file and line."""


class StoreError(DigestError):
    """The store cannot be opened or used as asked."""


class SendAborted(DigestError):
    """Sending stopped on purpose: the relay refuses us (auth, policy), so the list is not burned."""


class UsageError(DigestError):
    """A bad argument (a date, an address that is no subscriber): the CLI prints one line and exits 2."""
