from localplatform.cli import app

app()
