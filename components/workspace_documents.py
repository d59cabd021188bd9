"""A workspace's MongoDB database and the one user allowed in it (readWrite on that database only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.connections import MongoConnection
from components.providers.mongo import DatabaseArgs, MongoDatabase, MongoUser, RoleGrant, UserArgs
from components.providers.random import RandomSecret
from falcone.naming import WorkspaceNames


@dataclass(frozen=True)
class WorkspaceDocumentsArgs:
    names: WorkspaceNames
    connection: pulumi.Input[MongoConnection]
    drop_data_on_delete: bool = True


class WorkspaceDocuments(pulumi.ComponentResource):
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, args: WorkspaceDocumentsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Documents", name, None, opts)
        names, child = args.names, pulumi.ResourceOptions(parent=self)
        database = MongoDatabase(
            f"{name}-database",
            DatabaseArgs(name=names.mongo_database, drop_on_delete=args.drop_data_on_delete),
            args.connection,
            child,
        )
        secret = RandomSecret(f"{name}-password", length=32, opts=child)
        user = MongoUser(
            f"{name}-user",
            UserArgs(
                username=f"{names.mongo_database}_app",
                password=secret.value,
                database=names.mongo_database,
                roles=[RoleGrant(role="readWrite", db=names.mongo_database)],
            ),
            args.connection,
            pulumi.ResourceOptions(parent=self, depends_on=[database]),
        )
        self.database = database.name
        self.username = user.username
        self.password = pulumi.Output.secret(secret.value)
        self.register_outputs({"database": self.database, "username": self.username, "password": self.password})
