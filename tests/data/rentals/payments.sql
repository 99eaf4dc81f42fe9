INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
VALUES (1, 1, 1, 4.99, '2022-01-05 10:01+00'), (2, 1, 2, 2.99, '2022-02-03 12:01+00');
