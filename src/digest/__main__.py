import gc

gc.disable()  # while the command line loads; `digest.cli.main` says when it is back on (digest.cli.base.ONE_SHOT)

from digest.cli import main  # noqa: E402

main()
