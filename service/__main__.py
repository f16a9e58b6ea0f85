"""``python -m service`` runs the ``vigil`` command without the console script."""

from service.cli import main

raise SystemExit(main())
