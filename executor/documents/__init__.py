"""MongoDB collections of a workspace (`/v1/mongo/collections`): documents as relaxed Extended JSON, every
operation confined to the caller's tenant and workspace."""
