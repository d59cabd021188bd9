from falcone.cli import app

app()
