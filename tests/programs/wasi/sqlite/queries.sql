create table p(id integer primary key, name text, price real, qty int);
insert into p(name, price, qty) select 'item' || value, value * 1.25, value % 7 from generate_series(1, 2000);
create index ip on p(price);
select count(*), printf('%.2f', sum(price*qty)), min(name), max(name) from p where qty > 2;
select name, price from p where price between 100 and 103 order by price;
select group_concat(name, ',') from (select name from p order by id desc limit 5);
select json_object('a', 1, 'b', json_array(1,2,3));
select typeof(1.5), 7/2, 7.0/2, 1e308*10, round(2.5), substr('verigame', 3, 4);
with recursive c(x) as (select 1 union all select x+1 from c where x < 1000) select sum(x), avg(x) from c;
.mode csv
select * from p limit 3;
