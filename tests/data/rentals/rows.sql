-- A handful of rows, enough for the constraints and the views to have something to check.
INSERT INTO country (country_id, country) VALUES (1, 'Iceland'), (2, 'Chile');
INSERT INTO city (city_id, city, country_id) VALUES (1, 'Reykjavik', 1), (2, 'Valparaiso', 2);
INSERT INTO address (address_id, address, district, city_id, phone)
VALUES (1, '1 Harbour Rd', 'Centre', 1, '555-0101'), (2, '9 Cerro Alegre', 'Hills', 2, '555-0102');
INSERT INTO language (language_id, name) VALUES (1, 'English'), (2, 'Spanish');
INSERT INTO category (category_id, name) VALUES (1, 'Drama'), (2, 'Comedy');
INSERT INTO actor (actor_id, first_name, last_name) VALUES (1, 'Ana', 'Reyes'), (2, 'Jon', 'Olafsson');
INSERT INTO film (film_id, title, description, release_year, language_id, length, rating)
VALUES (1, 'Harbour Lights', 'A quiet drama', 2004, 1, 98, 'PG'),
       (2, 'Hill Street Laughs', 'A loud comedy', 2011, 2, 87, 'PG-13');
INSERT INTO film_actor (actor_id, film_id) VALUES (1, 1), (2, 1), (2, 2);
INSERT INTO film_category (film_id, category_id) VALUES (1, 1), (2, 2);
BEGIN;
INSERT INTO store (store_id, manager_staff_id, address_id) VALUES (1, 1, 1);
INSERT INTO staff (staff_id, first_name, last_name, address_id, store_id, username)
VALUES (1, 'Mia', 'Jonsdottir', 1, 1, 'mia');
COMMIT;
INSERT INTO customer (customer_id, store_id, first_name, last_name, address_id, active)
VALUES (1, 1, 'Luis', 'Soto', 2, 1), (2, 1, 'Eva', 'Berg', 1, 1);
INSERT INTO inventory (inventory_id, film_id, store_id) VALUES (1, 1, 1), (2, 2, 1);
INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id)
VALUES (1, '2022-01-05 10:00+00', 1, 1, '2022-01-08 10:00+00', 1),
       (2, '2022-02-03 12:00+00', 2, 2, NULL, 1);
