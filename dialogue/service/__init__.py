"""What the HTTP service does, apart from HTTP: customers' chats, the reps' assist desk, accounts
and the experiment board. Routes (dialogue.api) parse, call these and return."""
