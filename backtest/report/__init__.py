"""What a person reads: the tear sheet, the comparison and its page, the event-study page. Reads finished results only."""
