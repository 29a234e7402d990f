-- A connector reports when its recipient read a reply. The new CHECK is added unchecked
-- and then validated, which reads the table without blocking writes to it.
ALTER TABLE messages DROP CONSTRAINT messages_delivery_state_check;
ALTER TABLE messages ADD CONSTRAINT messages_delivery_state_check
    CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'read', 'failed')) NOT VALID;
ALTER TABLE messages VALIDATE CONSTRAINT messages_delivery_state_check;
