"""The use cases: one function per operator or reader action, taking its dependencies (engine, settings,
mailer, now) explicitly and returning a small result that the command line, the daemon and the web turn into
their own answer."""
