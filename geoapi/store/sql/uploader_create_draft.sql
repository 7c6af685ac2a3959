-- A desktop-uploader draft: metadata only, no photos yet, invisible to everyone but its owner.
INSERT INTO sequences (owner_id, title, description, transport_type_id, source, status)
VALUES (:owner_id, :title, :description, :transport_type_id, :source, 'draft')
RETURNING id
