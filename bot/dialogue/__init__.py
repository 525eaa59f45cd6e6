"""What the assistant says and asks: forms and their validation, replies, quoted facts, intent answers,
and how a message is answered."""
